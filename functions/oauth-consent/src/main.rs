//! Lambda function `oauth-consent`: the `shared::oauth::consent` routes.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::serve(shared::oauth::consent::router).await
}
