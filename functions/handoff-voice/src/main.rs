//! Lambda function `handoff-voice`: the `shared::actions::voice::router` route.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::serve(shared::actions::voice::router).await
}
