//! Lambda function `oauth-authorize`: the `shared::oauth::authorize` routes.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::serve(shared::oauth::authorize::router).await
}
