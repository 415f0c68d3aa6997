//! Lambda function `get-receipt`: the `shared::actions::status::receipt_router` route.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::serve(shared::actions::status::receipt_router).await
}
