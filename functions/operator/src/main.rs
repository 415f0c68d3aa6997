//! Lambda function `operator`: the `shared::operator` routes (OAuth client management
//! behind the admin token).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::serve(shared::operator::router).await
}
