//! Lambda function `oauth-token`: the `shared::oauth::token` routes.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::serve(shared::oauth::token::router).await
}
