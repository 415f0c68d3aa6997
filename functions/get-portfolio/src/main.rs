//! Lambda function `get-portfolio`: the `shared::actions::portfolio::router` route.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::serve(shared::actions::portfolio::router).await
}
