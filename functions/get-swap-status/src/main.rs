//! Lambda function `get-swap-status`: the `shared::actions::status::swap_status_router` route.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::serve(shared::actions::status::swap_status_router).await
}
