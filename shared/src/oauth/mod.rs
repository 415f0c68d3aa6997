//! The OAuth 2.0 authorization server ChatGPT links Dexter accounts through: the
//! authorization code grant of RFC 6749 with refresh tokens, following the OAuth
//! security BCP (RFC 9700): exact redirect URI matching, PKCE (`S256` only; required of
//! public clients), `iss` in every authorization response (RFC 9207), single-use codes
//! bound to client, redirect URI and PKCE challenge, refresh token rotation with reuse
//! detection, no tokens in logs.
//!
//! The path of one link: ChatGPT sends the browser to [`authorize`]; the person signs in
//! by email behind Turnstile ([`login`], [`callback`]) and approves on [`consent`]; the
//! browser returns to ChatGPT with a code, which ChatGPT's server exchanges at [`token`].
//! [`revoke`] is RFC 7009.
//!
//! MCP clients (ChatGPT apps and connectors, Claude, Claude Code …) use the same pages.
//! They become clients without an operator: by registering ([`register`], RFC 7591) or
//! by naming the URL of their client ID metadata document as `client_id` ([`clients`],
//! fetched behind [`fetch`]'s SSRF fence). They authenticate with `private_key_jwt`
//! ([`assertion`], RFC 7523) or as public clients held to PKCE; loopback redirect URIs
//! match on any port ([`redirect`]). The in-flight request is bound to the browser that started it
//! by a cookie whose hash is stored with the request (see [`flow`]).

pub mod access_token;
pub mod assertion;
pub mod authorize;
pub mod callback;
pub mod channel;
pub mod client_auth;
pub mod clients;
pub mod consent;
pub mod fetch;
pub mod flow;
pub mod login;
pub mod metadata;
pub mod pages;
pub mod redirect;
pub mod register;
pub mod revoke;
pub mod throttle;
pub mod token;

use chrono::Duration;

/// How long a person has to sign in and consent after ChatGPT sends them here.
pub const AUTHORIZATION_REQUEST_TTL: Duration = Duration::minutes(15);
/// Authorization codes live ten minutes (RFC 6749 §4.1.2 recommends at most ten).
pub const CODE_TTL: Duration = Duration::minutes(10);
/// Access tokens live one hour; ChatGPT refreshes them.
pub const ACCESS_TOKEN_TTL_SECONDS: i64 = 3600;
/// Refresh tokens expire after this long unused; every use rotates them.
pub const REFRESH_TOKEN_TTL: Duration = Duration::days(60);
/// A rotated refresh token presented again within this window (from its first rotation,
/// while no successor has been used) is treated as a retry of a request whose answer was
/// lost, or as refreshes racing each other, not as theft: it gets one more successor.
pub const REFRESH_GRACE: Duration = Duration::seconds(60);

pub use crate::scope::parse_scopes;

/// The OAuth endpoints' paths, under the public base URL.
pub mod paths {
    pub const AUTHORIZE: &str = "/oauth/chatgpt/authorize";
    pub const LOGIN: &str = "/oauth/chatgpt/login";
    pub const CALLBACK: &str = "/oauth/chatgpt/callback";
    pub const CONSENT: &str = "/oauth/chatgpt/consent";
    pub const TOKEN: &str = "/oauth/chatgpt/token";
    pub const REVOKE: &str = "/oauth/chatgpt/revoke";
    /// Dynamic client registration (RFC 7591), for MCP clients.
    pub const REGISTER: &str = "/oauth/register";
}
