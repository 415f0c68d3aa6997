//! Lambda function `oauth-revoke`: the `shared::oauth::revoke` routes.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::serve(shared::oauth::revoke::router).await
}
