//! GPT actions under `/connector/chatgpt/`, each its own Lambda function, each behind
//! the bearer guard.
//!
//! Every action is declared once, as an [`Action`] in its own module: name, method,
//! scope, whether ChatGPT must ask first, the logical MCP tools it calls, how its receipts
//! are stored, the schemas the spec shows, and its handler. [`ACTIONS`] lists them; from
//! that list come the routes ([`crate::routes`]), `openapi.json` ([`crate::openapi`]),
//! the `cargo lambda watch` router and the function blocks of `template.yaml`
//! ([`crate::deploy`]).
//!
//! The path of one action (docs/design.md, "Per action, the whole path"): the [`ActionCall`]
//! extractor runs the [`guard`] for the declaration's scope (verify the token, then one
//! query for grant liveness, tier, channel and the tier's tools); the handler checks the
//! tier allows each MCP tool, calls it with a per-call MCP JWT, and [`ActionCall::finish`]
//! writes every tool call's receipt in one round trip; the response carries the ids.
//! Each call's request log line carries its CloudWatch metrics ([`crate::metrics`]).

pub mod alerts;
pub mod fit;
pub mod guard;
pub mod input;
pub mod portfolio;
pub mod profile;
pub mod schema;
pub mod search;
pub mod status;
pub mod swap;
pub mod token;
pub mod voice;

use std::time::Duration;

use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::Method;
use axum::http::request::Parts;
use axum::routing::{MethodFilter, MethodRouter};
use chrono::Utc;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::error::ApiError;
use crate::http::RequestId;
use crate::ids::ApprovalId;
use crate::mcp::{McpCaller, McpError};
use crate::metrics;
use crate::receipts::args_digest;
use crate::scope::Scope;
use crate::state::AppState;
use crate::store::{Receipt, ReceiptStatus};
use guard::Caller;

/// Every action ChatGPT may call, in the spec's order.
pub const ACTIONS: &[&Action] = &[
    &portfolio::ACTION,
    &token::ACTION,
    &swap::PREVIEW,
    &swap::EXECUTE,
    &status::SWAP_STATUS,
    &status::RECEIPT,
    &alerts::LIST,
    &alerts::CREATE,
    &search::ACTION,
    &voice::ACTION,
    &profile::ACTION,
];

/// How much of an upstream error code or message an error answer quotes, in characters.
const UPSTREAM_TEXT_CHARS: usize = 200;

/// Where the actions live, under the public base URL.
pub const PATH_PREFIX: &str = "/connector/chatgpt/";

/// A query parameter as the spec shows it: name, whether it is required, its JSON
/// schema, its description.
pub type Param = (&'static str, bool, fn() -> Value, &'static str);

/// One action, declared once.
pub struct Action {
    /// The `operationId`, the last path segment, the receipts' `action`; the Lambda
    /// function is the same name in kebab case (`get_portfolio` → `get-portfolio`).
    pub name: &'static str,
    pub method: Method,
    /// The scope the token must carry (403 `insufficient_scope` otherwise).
    pub scope: Scope,
    pub summary: &'static str,
    pub description: &'static str,
    /// `x-openai-isConsequential`: ChatGPT asks the user before calling.
    pub consequential: bool,
    /// The logical MCP tools the handler may call (`McpToolNames` maps them to what
    /// dexter-mcp publishes); a call to any other is refused.
    pub tools: &'static [&'static str],
    /// Query parameters.
    pub query: &'static [Param],
    /// The JSON request body's schema.
    pub body: Option<fn() -> Value>,
    /// The success status and its body's schema.
    pub success: (u16, fn() -> Value),
    /// Error statuses this action answers besides those every action may (400, 401, 403,
    /// 404, 502, 504), with what they mean: the spec lists them.
    pub errors: &'static [(u16, &'static str)],
    /// The handler, routed for the declared method: `|method| on(method, handler)`.
    pub handler: fn(MethodFilter) -> MethodRouter<ActionState>,
}

impl Action {
    /// `/connector/chatgpt/<name>`.
    pub fn path(&self) -> String {
        format!("{PATH_PREFIX}{}", self.name)
    }

    /// The Lambda function (crate in `functions/`, binary, SAM `Binary`) serving it.
    pub fn function_name(&self) -> String {
        self.name.replace('_', "-")
    }

    /// A handler may only call the tools its declaration names; the error says which
    /// action called which undeclared tool.
    pub fn declares(&self, logical_tool: &str) -> Result<(), String> {
        if self.tools.contains(&logical_tool) {
            Ok(())
        } else {
            Err(format!("{} calls the MCP tool {logical_tool}, which its declaration does not list", self.name))
        }
    }

    /// The action's one route, with its declaration as the handler's state, behind the
    /// safety net that keeps every answer within ChatGPT's size limit ([`fit`]), measured
    /// for the request log line's metrics ([`crate::metrics`]).
    pub fn router(&'static self, state: AppState) -> Router {
        let filter = MethodFilter::try_from(self.method.clone()).expect("actions use GET or POST");
        let measured =
            metrics::Measured { namespace: state.config.metrics_namespace.as_str().into(), action: self.name };
        Router::new()
            .route(&self.path(), (self.handler)(filter))
            .with_state(ActionState { app: state, action: self })
            .layer(axum::middleware::map_response(fit::within_limit))
            // Inside `measure`, so a panicking action is still counted (under 5xx).
            .layer(tower_http::catch_panic::CatchPanicLayer::custom(crate::http::panicked))
            .layer(axum::middleware::from_fn_with_state(measured, metrics::measure))
    }
}

/// What an action's handler is given: the shared state and its own declaration.
#[derive(Clone)]
pub struct ActionState {
    pub app: AppState,
    pub action: &'static Action,
}

/// One action call in progress: who is calling, and the receipts of its tool calls.
///
/// As an extractor it is the guard: a handler's first argument, so a bad token is a 401
/// whatever else is wrong with the request.
pub struct ActionCall {
    pub state: AppState,
    pub caller: Caller,
    pub request_id: String,
    pub action: &'static Action,
    receipts: Vec<Receipt>,
    /// Where this call's upstream latencies are summed for its metrics.
    upstream_clock: metrics::UpstreamClock,
}

/// One MCP tool call's outcome, with its receipt id.
pub struct ToolOutcome {
    pub receipt_id: Uuid,
    pub result: Result<Value, McpError>,
}

impl FromRequestParts<ActionState> for ActionCall {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ActionState) -> Result<Self, Self::Rejection> {
        let request_id = parts.extensions.get::<RequestId>().map(|r| r.0.clone()).unwrap_or_default();
        let upstream_clock = parts.extensions.get::<metrics::UpstreamClock>().cloned().unwrap_or_default();
        let caller = match parts.extensions.get::<guard::ViaMcp>() {
            Some(via) => guard::authorize_via_mcp(&state.app, via, state.action.scope).await?,
            None => guard::authorize(&state.app, &parts.headers, state.action.scope).await?,
        };
        Ok(ActionCall {
            state: state.app.clone(),
            caller,
            request_id,
            action: state.action,
            receipts: Vec::new(),
            upstream_clock,
        })
    }
}

impl ActionCall {
    /// The published name of a logical tool, after checking the caller's tier allows it
    /// (403 `tool_not_allowed`).
    pub fn entitled(&self, logical_tool: &str) -> Result<String, ApiError> {
        self.action.declares(logical_tool).map_err(|e| ApiError::Unexpected(anyhow::anyhow!(e)))?;
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
        let state = &self.state;
        let action = self.action;
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
                let called = state.mcp.is_some() && action.declares(logical).is_ok();
                let result = match (&state.mcp, action.declares(logical)) {
                    // A tool the declaration does not list is never called.
                    (_, Err(undeclared)) => Err(McpError::Protocol(undeclared)),
                    (Some(mcp), Ok(())) => mcp.call_tool(&mcp_caller, &tool, arguments).await.map(|r| r.structured),
                    (None, Ok(())) => {
                        Err(McpError::Unreachable(anyhow::anyhow!("no MCP server is configured (MCP_URL)")))
                    }
                };
                (tool, digest, result, started.elapsed(), called)
            }
        });
        let finished = futures_util::future::join_all(futures).await;
        finished
            .into_iter()
            .map(|(tool, digest, result, latency, called)| {
                if called {
                    self.upstream_clock.add(latency);
                }
                let receipt = self.receipt(Some(tool), digest, &result, Some(latency));
                let receipt_id = receipt.id;
                self.receipts.push(receipt);
                ToolOutcome { receipt_id, result }
            })
            .collect()
    }

    /// Records a step that called no tool (a pending approval, a voice handoff).
    pub fn record(&mut self, status: ReceiptStatus, arguments: &Value, approval_id: Option<ApprovalId>) -> Uuid {
        let mut receipt = self.receipt(None, args_digest(arguments), &Ok(Value::Null), None);
        receipt.status = status;
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
            action: self.action.name.to_owned(),
            mcp_tool: tool,
            args_digest: digest,
            status: ReceiptStatus::of(result),
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

    /// Stores the receipts, durably, before the answer that names them leaves: a receipt id
    /// handed to ChatGPT survives a database crash.
    async fn store_receipts(&self) -> Result<(), ApiError> {
        self.state.store.insert_receipts(&self.receipts).await?;
        Ok(())
    }

    /// Stores the receipts and answers `body` with `receipt_ids` added.
    pub async fn finish(self, mut body: Value) -> Result<Value, ApiError> {
        self.store_receipts().await?;
        body["receipt_ids"] = json!(self.receipt_ids());
        Ok(body)
    }

    /// Stores the receipts of the tools already called, then answers `error`: a refusal
    /// that depends on what a tool returned (e.g. an unknown wallet).
    pub async fn refuse(self, error: ApiError) -> ApiError {
        match self.store_receipts().await {
            Ok(()) => error,
            Err(e) => e,
        }
    }

    /// Stores the receipts (the failure is on record) and turns an upstream failure into
    /// the action's error, carrying the receipt ids. The upstream's message is cut short.
    pub async fn fail(self, error: McpError) -> ApiError {
        if let Err(e) = self.store_receipts().await {
            return e;
        }
        let message = match &error {
            McpError::Tool { code, message } if code == message => {
                format!("Dexter's tool refused the request: {}", fit::cut(code, UPSTREAM_TEXT_CHARS))
            }
            McpError::Tool { code, message } => format!(
                "Dexter's tool refused the request ({}): {}",
                fit::cut(code, UPSTREAM_TEXT_CHARS),
                fit::cut(message, UPSTREAM_TEXT_CHARS)
            ),
            McpError::Timeout => "Dexter's tools did not answer in time; try again".to_owned(),
            _ => "Dexter's tools are unavailable right now; try again shortly".to_owned(),
        };
        ApiError::Upstream { status: error.status(), code: error.code(), message, receipt_ids: self.receipt_ids() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_action_may_call_only_the_tools_it_declares() {
        assert!(portfolio::ACTION.declares("solana_list_balances").is_ok());
        let refused = token::ACTION.declares("solana_swap_execute").unwrap_err();
        assert!(refused.contains("resolve_token") && refused.contains("solana_swap_execute"), "{refused}");
    }
}
