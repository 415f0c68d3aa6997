//! The bearer guard every action runs first (docs/design.md, "Per action, the whole path",
//! steps 1–3): verify the access token locally, then ONE store query for grant liveness,
//! tier, channel switch and the tier's allowed tools, then scope and entitlement.
//!
//! Answers: 401 with `WWW-Authenticate: Bearer` for a missing, bad, expired or revoked
//! token (RFC 6750 §3); 403 `insufficient_scope`; 403 `channel_disabled` when the user's
//! `channels.chatgpt` is not true; 403 `tool_not_allowed` naming the tool and tier.
//!
//! The same guard serves the MCP endpoint's tool calls ([`authorize_via_mcp`]): there the
//! token was verified by `/mcp` for `{base}/mcp` (a GPT action refuses such a token, and
//! `/mcp` refuses the actions'), and the channel is the client's ([`channel::of_redirect_uris`], from the
//! client's redirect URIs that the same one query reads): `channels.chatgpt` for ChatGPT's
//! own clients, `channels.mcp` for every other MCP client.
//!
//! [`ViaMcp`] marks the requests the MCP endpoint makes of an action in-process.

use axum::http::HeaderMap;
use chrono::Utc;

use crate::error::ApiError;
use crate::http::extract::bearer_token;
use crate::oauth::access_token::{self, AccessClaims, TokenError};
use crate::oauth::channel;
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

/// Marks an action request synthesized by the MCP endpoint, with the claims of the token
/// it verified for `{base}/mcp`. Only set in-process (an HTTP request cannot carry an
/// extension), so the guard trusts it and does not verify the token a second time.
#[derive(Clone, Debug)]
pub struct ViaMcp(pub AccessClaims);

/// Which resource a request is for, and so which channel gates it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Resource {
    /// The GPT actions (`{base}/connector/chatgpt`), called over HTTP.
    Actions,
    /// The MCP endpoint (`{base}/mcp`), which calls the actions in-process.
    Mcp,
}

fn unauthorized(message: &str) -> ApiError {
    ApiError::Unauthorized { code: "invalid_token", message: message.into() }
}

/// Authenticates a GPT action's bearer token (audience `{base}/connector/chatgpt`) and
/// checks it carries `scope`.
pub async fn authorize(state: &AppState, headers: &HeaderMap, scope: Scope) -> Result<Caller, ApiError> {
    let base = &state.config.public_base_url;
    let token = bearer_token(headers).ok_or_else(|| ApiError::Unauthorized {
        code: "invalid_request",
        message: "an OAuth bearer token is required; connect Dexter in ChatGPT".into(),
    })?;
    let claims =
        access_token::verify_for(&state.config.signing_keys, base, &[access_token::audience(base)], token, false)
            .map_err(|e| match e {
                TokenError::Expired => unauthorized("the access token has expired"),
                TokenError::Invalid => unauthorized("the access token is not valid"),
            })?;
    admit(state, claims, scope, Resource::Actions).await
}

/// [`authorize`] for a tool call the MCP endpoint makes in-process, whose token it verified.
pub async fn authorize_via_mcp(state: &AppState, via: &ViaMcp, scope: Scope) -> Result<Caller, ApiError> {
    admit(state, via.0.clone(), scope, Resource::Mcp).await
}

/// The rest of the guard, for verified `claims`: the one query, then scope and channel.
async fn admit(state: &AppState, claims: AccessClaims, scope: Scope, resource: Resource) -> Result<Caller, ApiError> {
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
    // The GPT actions are ChatGPT's; an MCP client's channel follows from its redirect URIs,
    // which the one query read with the rest.
    let channel = match resource {
        Resource::Actions => channel::CHATGPT,
        Resource::Mcp => channel::of_redirect_uris(&context.client_redirect_uris),
    };
    if !channel::enabled_in(&context, channel) {
        let name = if channel == "chatgpt" { "ChatGPT" } else { "MCP" };
        return Err(ApiError::Forbidden {
            code: "channel_disabled",
            message: format!(
                "the {name} channel is turned off for this Dexter account (channels.{channel}); \
                 turn it on in Dexter's settings"
            ),
        });
    }
    Ok(Caller { claims, context })
}
