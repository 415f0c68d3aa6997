//! GPT actions under `/connector/chatgpt/`, each its own Lambda function, each behind
//! the bearer guard. The path of one action (DESIGN "per action, the whole path"):
//! [`guard`] verifies the token and loads the caller's grant, tier and channel in one
//! query; [`ActionCall`] checks the tier allows each MCP tool, calls it with a per-call
//! MCP JWT, and writes every tool call's receipt in one round trip at the end; the
//! response carries the receipt ids.

pub mod alerts;
pub mod guard;
pub mod portfolio;
pub mod profile;
pub mod search;
pub mod status;
pub mod swap;
pub mod token;
pub mod voice;

use std::time::Duration;

use axum::http::HeaderMap;
use chrono::Utc;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::error::ApiError;
use crate::mcp::{McpCaller, McpError};
use crate::state::AppState;
use crate::store::{Durability, Receipt};
use guard::Caller;

/// One action call in progress: who is calling, and the receipts of its tool calls.
pub struct ActionCall<'a> {
    pub state: &'a AppState,
    pub caller: Caller,
    pub request_id: String,
    pub action: &'static str,
    receipts: Vec<Receipt>,
}

/// One MCP tool call's outcome, with its receipt id.
pub struct ToolOutcome {
    pub receipt_id: Uuid,
    pub result: Result<Value, McpError>,
}

impl<'a> ActionCall<'a> {
    /// Runs the guard for `scope`.
    pub async fn begin(
        state: &'a AppState,
        headers: &HeaderMap,
        request_id: String,
        action: &'static str,
        scope: &str,
    ) -> Result<ActionCall<'a>, ApiError> {
        let caller = guard::authorize(state, headers, scope).await?;
        Ok(ActionCall { state, caller, request_id, action, receipts: Vec::new() })
    }

    /// The published name of a logical tool, after checking the caller's tier allows it
    /// (403 `tool_not_allowed`).
    pub fn entitled(&self, logical_tool: &str) -> Result<String, ApiError> {
        let tool = self.state.config.mcp.tools.published(logical_tool).to_owned();
        self.caller.require_tool(&tool)?;
        Ok(tool)
    }

    /// Calls one tool the caller is entitled to; the receipt is kept for [`Self::finish`].
    pub async fn tool(&mut self, logical_tool: &str, arguments: Value) -> ToolOutcome {
        let mut outcomes = self.tools(vec![(logical_tool, arguments)]).await;
        outcomes.pop().expect("one call gives one outcome")
    }

    /// Calls several tools concurrently (one MCP session, many requests), in order.
    pub async fn tools(&mut self, calls: Vec<(&str, Value)>) -> Vec<ToolOutcome> {
        let state = self.state;
        let mcp_caller = McpCaller {
            user_id: self.caller.claims.sub,
            scopes: self.caller.claims.scopes().map(str::to_owned).collect(),
            roles: Vec::new(),
        };
        let futures = calls.into_iter().map(|(logical, arguments)| {
            let tool = state.config.mcp.tools.published(logical).to_owned();
            let mcp_caller = mcp_caller.clone();
            async move {
                let digest = args_digest(&arguments);
                let started = std::time::Instant::now();
                let result = match &state.mcp {
                    Some(mcp) => mcp.call_tool(&mcp_caller, &tool, arguments).await.map(|r| r.structured),
                    None => Err(McpError::Unreachable(anyhow::anyhow!("no MCP server is configured (MCP_URL)"))),
                };
                (tool, digest, result, started.elapsed())
            }
        });
        let finished = futures_util::future::join_all(futures).await;
        finished
            .into_iter()
            .map(|(tool, digest, result, latency)| {
                let receipt = self.receipt(Some(tool), digest, &result, Some(latency));
                let receipt_id = receipt.id;
                self.receipts.push(receipt);
                ToolOutcome { receipt_id, result }
            })
            .collect()
    }

    /// Records a step that called no tool (a pending approval, a voice handoff).
    pub fn record(&mut self, status: &str, arguments: &Value, approval_id: Option<Uuid>) -> Uuid {
        let mut receipt = self.receipt(None, args_digest(arguments), &Ok(Value::Null), None);
        receipt.status = status.to_owned();
        receipt.approval_id = approval_id;
        let id = receipt.id;
        self.receipts.push(receipt);
        id
    }

    fn receipt(
        &self,
        tool: Option<String>,
        digest: String,
        result: &Result<Value, McpError>,
        latency: Option<Duration>,
    ) -> Receipt {
        Receipt {
            id: Uuid::new_v4(),
            user_id: self.caller.claims.sub,
            client_id: self.caller.claims.client_id.clone(),
            action: self.action.to_owned(),
            mcp_tool: tool,
            args_digest: digest,
            status: if result.is_ok() { "ok".into() } else { "error".into() },
            error_code: result.as_ref().err().map(|e| e.receipt_status().to_owned()),
            upstream_latency_ms: latency.map(|l| l.as_millis() as i64),
            request_id: self.request_id.clone(),
            approval_id: None,
            created_at: Utc::now(),
        }
    }

    fn receipt_ids(&self) -> Vec<Uuid> {
        self.receipts.iter().map(|r| r.id).collect()
    }

    /// Stores the receipts. Those of a consequential action (a swap, an alert) or of an
    /// approval are flushed before the answer; those of a read may trail by the few
    /// hundred milliseconds of an asynchronous commit ([`Durability::Relaxed`]).
    async fn store_receipts(&self) -> Result<(), ApiError> {
        if !self.receipts.is_empty() {
            let consequential = crate::openapi::ACTIONS.iter().any(|a| a.name == self.action && a.consequential)
                || self.receipts.iter().any(|r| r.approval_id.is_some());
            let durability = if consequential { Durability::Durable } else { Durability::Relaxed };
            self.state.store.insert_receipts(&self.receipts, durability).await.map_err(anyhow::Error::new)?;
        }
        Ok(())
    }

    /// Stores the receipts and answers `body` with `receipt_ids` added.
    pub async fn finish(self, mut body: Value) -> Result<Value, ApiError> {
        self.store_receipts().await?;
        body["receipt_ids"] = json!(self.receipt_ids());
        Ok(body)
    }

    /// Stores the receipts (the failure is on record) and turns an upstream failure into
    /// the action's error, carrying the receipt ids.
    pub async fn fail(self, error: McpError) -> ApiError {
        if let Err(e) = self.store_receipts().await {
            return e;
        }
        let message = match &error {
            McpError::Tool { code, message } if code == message => format!("Dexter's tool refused the request: {code}"),
            McpError::Tool { code, message } => format!("Dexter's tool refused the request ({code}): {message}"),
            McpError::Timeout => "Dexter's tools did not answer in time; try again".to_owned(),
            _ => "Dexter's tools are unavailable right now; try again shortly".to_owned(),
        };
        ApiError::Upstream { status: error.status(), code: error.code(), message, receipt_ids: self.receipt_ids() }
    }
}

/// SHA-256 hex of the arguments' canonical JSON (object keys sorted): what a receipt
/// stores instead of the arguments themselves.
pub fn args_digest(arguments: &Value) -> String {
    crate::tokens::hash(&arguments.to_string())
}

/// The request id the middleware assigned.
pub fn request_id(headers_ext: &axum::http::Extensions) -> String {
    headers_ext.get::<crate::http::RequestId>().map(|r| r.0.clone()).unwrap_or_default()
}
