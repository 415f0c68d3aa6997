//! Lambda function `dexter-api`: the `shared::dexter` routes.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::serve(shared::dexter::router).await
}
