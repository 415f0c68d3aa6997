//! The bearer guard every action runs first (docs/design.md, "Per action, the whole path",
//! steps 1–3): verify the access token locally, then ONE store query for grant liveness,
//! tier, channel switch and the tier's allowed tools, then scope and entitlement.
//!
//! Answers: 401 with `WWW-Authenticate: Bearer` for a missing, bad, expired or revoked
//! token (RFC 6750 §3); 403 `insufficient_scope`; 403 `channel_disabled` when the user's
//! `channels.chatgpt` is not true; 403 `tool_not_allowed` naming the tool and tier.

use axum::http::HeaderMap;
use chrono::Utc;

use crate::error::ApiError;
use crate::http::extract::bearer_token;
use crate::oauth::access_token::{self, AccessClaims, TokenError};
use crate::scope::Scope;
use crate::state::AppState;
use crate::store::ActionContext;

/// A caller who passed the guard.
#[derive(Clone, Debug)]
pub struct Caller {
    pub claims: AccessClaims,
    pub context: ActionContext,
}

impl Caller {
    /// 403 `tool_not_allowed` unless the caller's tier includes `tool`.
    pub fn require_tool(&self, tool: &str) -> Result<(), ApiError> {
        if self.context.allowed_tools.iter().any(|t| t == tool) {
            Ok(())
        } else {
            Err(ApiError::Forbidden {
                code: "tool_not_allowed",
                message: format!(
                    "the {tier} tier does not include the MCP tool {tool}; upgrade in Dexter or ask your administrator",
                    tier = self.context.tier
                ),
            })
        }
    }
}

fn unauthorized(message: &str) -> ApiError {
    ApiError::Unauthorized { code: "invalid_token", message: message.into() }
}

/// Authenticates the request's bearer token and checks it carries `scope`.
pub async fn authorize(state: &AppState, headers: &HeaderMap, scope: Scope) -> Result<Caller, ApiError> {
    let token = bearer_token(headers).ok_or_else(|| ApiError::Unauthorized {
        code: "invalid_request",
        message: "an OAuth bearer token is required; connect Dexter in ChatGPT".into(),
    })?;
    let claims = access_token::verify(&state.config.signing_keys, &state.config.public_base_url, token, false)
        .map_err(|e| match e {
            TokenError::Expired => unauthorized("the access token has expired"),
            TokenError::Invalid => unauthorized("the access token is not valid"),
        })?;
    let context = state
        .store
        .action_context(claims.gid, claims.sub, Utc::now())
        .await?
        .filter(|c| c.grant_live)
        .ok_or_else(|| unauthorized("this ChatGPT link was revoked; connect Dexter again"))?;
    if !claims.has_scope(scope.as_str()) || !context.scopes.iter().any(|s| s == scope.as_str()) {
        return Err(ApiError::Forbidden {
            code: "insufficient_scope",
            message: format!("this action needs the {scope} scope; reconnect Dexter and allow it"),
        });
    }
    if !context.chatgpt_enabled {
        return Err(ApiError::Forbidden {
            code: "channel_disabled",
            message: "the ChatGPT channel is turned off for this Dexter account (channels.chatgpt); \
                      turn it on in Dexter's settings"
                .into(),
        });
    }
    Ok(Caller { claims, context })
}
