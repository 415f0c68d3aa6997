//! The signed-in Dexter user behind a Dexter-side request: the `Authorization: Bearer`
//! Supabase session JWT, checked by [`crate::identity::session`] (the project's issuer,
//! `role = authenticated`, no anonymous users, the legacy HS256 secret or the project's
//! ES256/RS256 keys by `kid`).
//!
//! Approving a swap spends the user's money, so with `DEXTER_APPROVAL_REQUIRES_AAL2` it
//! also needs a session that passed a second factor ([`approver`]); reads and rejections
//! never do.

use axum::http::HeaderMap;

use crate::error::ApiError;
use crate::http::extract::bearer_token;
use crate::identity::session::{Aal, Session, SessionError};
use crate::ids::UserId;
use crate::state::AppState;

fn unauthorized(message: &str) -> ApiError {
    ApiError::Unauthorized { code: "invalid_token", message: message.into() }
}

/// The verified session of the request.
async fn session(state: &AppState, headers: &HeaderMap) -> Result<Session, ApiError> {
    let token = bearer_token(headers).ok_or_else(|| unauthorized("a Dexter session token is required"))?;
    state.sessions.verify(token).await.map_err(|error| {
        // The reason, never the token: enough for an operator to see why Dexter's app is refused.
        tracing::info!(reason = %error, "refused a Dexter session token");
        match error {
            SessionError::Expired => unauthorized("the Dexter session token has expired"),
            SessionError::Invalid(_) => unauthorized("the Dexter session token is invalid or expired"),
        }
    })
}

/// The Dexter user behind the request's session token.
pub async fn user_id(state: &AppState, headers: &HeaderMap) -> Result<UserId, ApiError> {
    Ok(session(state, headers).await?.user_id)
}

/// The Dexter user approving a swap: like [`user_id`], and with
/// `DEXTER_APPROVAL_REQUIRES_AAL2` the session must be `aal2` (403 `mfa_required`).
pub async fn approver(state: &AppState, headers: &HeaderMap) -> Result<UserId, ApiError> {
    let session = session(state, headers).await?;
    if state.config.sessions.approval_requires_aal2 && session.aal != Aal::Aal2 {
        return Err(ApiError::Forbidden {
            code: "mfa_required",
            message: "approving a swap needs a Dexter session verified with your second factor (aal2): \
                      verify it in Dexter, then approve again"
                .into(),
        });
    }
    Ok(session.user_id)
}
