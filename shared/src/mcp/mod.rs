//! Calling Dexter's MCP server (`dexter-mcp`) as one user: the client side of the MCP
//! Streamable HTTP transport (MCP specification 2025-06-18, "Transports" §Streamable HTTP,
//! and "Lifecycle" for the initialize handshake), written on `reqwest` so the Lambda
//! binaries do not link an MCP SDK.
//!
//! - [`client`]: [`McpClient`], one per cold start, keeping one MCP session per user.
//! - [`token`]: the per-call HS256 bearer dexter-mcp verifies.
//! - [`sse`]: reading the `text/event-stream` answers a server may give.
//!
//! What the upstream speaks (tool names, arguments, results) is in `docs/dexter-mcp.md`.

pub mod client;
pub mod sse;
pub mod token;

use std::time::Duration;

use crate::ids::UserId;

pub use client::McpClient;
pub use token::McpClaims;

/// Who a call is made for: the claims of the bearer minted for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct McpCaller {
    /// The Dexter (Supabase) user id: `sub` and `supabase_user_id`.
    pub user_id: UserId,
    /// OAuth scopes granted to the caller; sent as the space-separated `scope` claim.
    pub scopes: Vec<String>,
    /// Sent as `roles`, lower-cased and sorted.
    pub roles: Vec<String>,
}

impl McpCaller {
    /// A caller with no scopes or roles.
    pub fn user(user_id: UserId) -> McpCaller {
        McpCaller { user_id, scopes: Vec::new(), roles: Vec::new() }
    }
}

/// A successful tool result.
#[derive(Clone, Debug, PartialEq)]
pub struct ToolResult {
    /// `structuredContent`, or the JSON of the first text content when the server sent no
    /// `structuredContent` (servers written before 2025-06-18 do that).
    pub structured: serde_json::Value,
    /// The whole call as the caller waited for it, re-initialisation included.
    pub latency: Duration,
}

/// Why a tool call did not produce a result. Every variant is the upstream's fault or
/// state, never the caller's: the HTTP surface answers 502, or 504 for a timeout.
#[derive(thiserror::Error)]
pub enum McpError {
    /// The tool ran and reported a failure (`isError: true`). `code` is the tool's own
    /// code (e.g. `wallet_address_required`), safe to show; `message` is its text.
    #[error("the MCP tool failed: {code}: {message}")]
    Tool { code: String, message: String },
    /// The server refused the JSON-RPC request itself (unknown tool, invalid params).
    #[error("the MCP server rejected the request (JSON-RPC error {code}): {message}")]
    Rejected { code: i64, message: String },
    /// The call did not finish within the client's deadline.
    #[error("the MCP server did not answer in time")]
    Timeout,
    /// The server answered with an HTTP status other than success (5xx, 401 when the
    /// shared secret disagrees, a session refused twice, …).
    #[error("the MCP server answered HTTP {status}")]
    Upstream { status: u16 },
    /// The answer was not the JSON-RPC, SSE or tool result the specification describes.
    #[error("the MCP server's answer is malformed: {0}")]
    Protocol(String),
    /// No answer at all: connection refused, reset, DNS, TLS, or a token we could not mint.
    #[error("the MCP server is unreachable")]
    Unreachable(#[source] anyhow::Error),
}

impl McpError {
    /// The HTTP status an action answers with.
    pub fn status(&self) -> u16 {
        match self {
            McpError::Timeout => 504,
            _ => 502,
        }
    }

    /// The stable `error` code of the JSON body an action answers with.
    pub fn code(&self) -> &'static str {
        match self {
            McpError::Tool { .. } => "upstream_tool_error",
            McpError::Rejected { .. } => "upstream_rejected",
            McpError::Timeout => "upstream_timeout",
            McpError::Upstream { .. } | McpError::Unreachable(_) => "upstream_unavailable",
            McpError::Protocol(_) => "upstream_malformed",
        }
    }

    /// A short status for a receipt: the tool's code for tool errors, else [`Self::code`].
    pub fn receipt_status(&self) -> &str {
        match self {
            McpError::Tool { code, .. } => code,
            other => other.code(),
        }
    }
}

impl std::fmt::Debug for McpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The cause chain, as the rest of the crate's errors print it.
        writeln!(f, "{self}")?;
        let mut source = std::error::Error::source(self);
        while let Some(cause) = source {
            writeln!(f, "Caused by:\n\t{cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}
