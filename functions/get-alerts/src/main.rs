//! Lambda function `get-alerts`: the `shared::actions::alerts::list_router` route.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::serve(shared::actions::alerts::list_router).await
}
