//! The Dexter ChatGPT connector's library: everything the Lambda functions and the
//! `connector` CLI share.
//!
//! Every route is a handler here. [`routes`] lists the Lambda functions and what each
//! serves (every action is declared once, in [`actions`]); a function binary runs its
//! own routes under `lambda_http` ([`lambda::run`]); `connector serve` mounts them all on
//! one local listener. There is no second implementation of any route. [`http`] is the
//! plumbing around every route; the modules below it import nothing from above.

pub mod actions;
pub mod approvals;
pub mod config;
pub mod deploy;
pub mod dexter;
pub mod discovery;
pub mod error;
pub mod health;
pub mod http;
pub mod identity;
pub mod ids;
pub mod keys;
pub mod lambda;
pub mod limits;
pub mod mcp;
pub mod mcp_server;
pub mod metrics;
pub mod oauth;
pub mod openapi;
pub mod operator;
pub mod receipts;
pub mod routes;
pub mod scope;
pub mod secrets;
pub mod state;
pub mod store;
pub mod sweep;
pub mod telemetry;
pub mod tls;
pub mod tokens;
pub mod turnstile;

pub use error::ApiError;
pub use ids::{ApprovalId, ClientId, CodeChallenge, GrantId, TokenHash, UserId};
pub use state::AppState;
