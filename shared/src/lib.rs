//! The Dexter ChatGPT connector's library: everything the Lambda functions and the
//! `connector` CLI share.
//!
//! Every route is a handler here, exposed as a router fragment in [`http`]. A function
//! binary runs its one fragment under `lambda_http` ([`lambda::serve`]); `connector serve`
//! mounts every fragment on one local listener. There is no second implementation of
//! any route.

pub mod actions;
pub mod config;
pub mod dexter;
pub mod error;
pub mod http;
pub mod identity;
pub mod keys;
pub mod lambda;
pub mod mcp;
pub mod oauth;
pub mod openapi;
pub mod operator;
pub mod secrets;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod tls;
pub mod tokens;
pub mod turnstile;

pub use error::ApiError;
pub use state::AppState;
