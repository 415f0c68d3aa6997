//! A Lambda function of the Dexter ChatGPT connector: the one `shared::routes` names after
//! this crate. Every crate in functions/ has this same file.

fn main() -> Result<(), shared::lambda::Error> {
    shared::lambda::run(const { shared::routes::function(env!("CARGO_PKG_NAME")) })
}
