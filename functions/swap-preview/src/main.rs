//! Lambda function `swap-preview`: the `shared::actions::swap::preview_router` route.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::serve(shared::actions::swap::preview_router).await
}
