//! The Dexter-side API: routes Dexter's own web app calls for the signed-in user,
//! authenticated with that user's Supabase session JWT (never a ChatGPT token).

pub mod approvals;
pub mod feed;
pub mod linked_accounts;
pub mod session;

use axum::Router;

use crate::state::AppState;

/// Every Dexter-side route (one Lambda function serves them all).
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(linked_accounts::router(state.clone()))
        .merge(approvals::router(state.clone()))
        .merge(feed::router(state))
}
