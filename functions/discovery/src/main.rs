//! Lambda function `discovery`: the `shared::http::discovery` routes.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::serve(shared::http::discovery::router).await
}
