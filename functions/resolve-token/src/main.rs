//! Lambda function `resolve-token`: the `shared::actions::token::router` route.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::serve(shared::actions::token::router).await
}
