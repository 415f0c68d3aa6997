//! Lambda function `oauth-callback`: the `shared::oauth::callback` routes.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::serve(shared::oauth::callback::router).await
}
