//! Lambda function `search`: the `shared::actions::search::router` route.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::serve(shared::actions::search::router).await
}
