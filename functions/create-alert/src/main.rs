//! Lambda function `create-alert`: the `shared::actions::alerts::create_router` route.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::serve(shared::actions::alerts::create_router).await
}
