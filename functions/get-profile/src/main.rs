//! Lambda function `get-profile`: the `shared::actions::profile` routes.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::serve(shared::actions::profile::router).await
}
