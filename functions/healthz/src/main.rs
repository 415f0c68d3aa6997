//! Lambda function `healthz`: the `shared::http::health` routes.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::serve(shared::http::health::router).await
}
