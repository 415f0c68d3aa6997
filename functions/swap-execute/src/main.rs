//! Lambda function `swap-execute`: the `shared::actions::swap::execute_router` route.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::serve(shared::actions::swap::execute_router).await
}
