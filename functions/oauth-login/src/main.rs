//! Lambda function `oauth-login`: the `shared::oauth::login` routes.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::serve(shared::oauth::login::router).await
}
