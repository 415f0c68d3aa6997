//! Swap approvals: the one place their logic lives. ChatGPT's `swap_execute` only
//! [`request`]s a swap (a pending approval and a notification for the bell); the user
//! [`approve`]s or [`reject`]s it in Dexter (`crate::dexter::approvals`). Approving runs
//! `solana_swap_execute` exactly once: the store moves the approval from pending to
//! executing atomically, so concurrent approves or retries find it already decided and
//! get its current state instead.

use chrono::{Duration, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::error::ApiError;
use crate::ids::{ApprovalId, ClientId, GrantId, UserId};
use crate::mcp::McpCaller;
use crate::receipts::args_digest;
use crate::state::AppState;
use crate::store::{
    ApprovalOutcome, ApprovalStatus, ClaimOutcome, Notification, Receipt, ReceiptStatus, RequestedApproval,
    SwapApproval,
};

/// How long the user has to approve a requested swap in Dexter.
pub const APPROVAL_WINDOW: Duration = Duration::minutes(15);

/// Who asks for a swap: the ChatGPT link's user, client and grant.
pub struct Requester<'a> {
    pub user_id: UserId,
    pub client_id: &'a ClientId,
    pub grant_id: GrantId,
}

/// Stores a pending approval for the swap `arguments` and notifies the user, or finds
/// the pending one the same `idempotency_key` created for the same swap (a retry: no new
/// notification). A key still pending for a different swap is refused with 409
/// `idempotency_key_reused`, and nothing is stored. Once its approval is decided or
/// expired, a key is free: asking again creates a new approval.
pub async fn request(
    state: &AppState,
    requester: &Requester<'_>,
    idempotency_key: String,
    arguments: &Value,
) -> Result<SwapApproval, ApiError> {
    let now = Utc::now();
    let requested = state
        .store
        .create_or_get_approval(
            &SwapApproval {
                id: ApprovalId::random(),
                user_id: requester.user_id,
                client_id: requester.client_id.clone(),
                grant_id: requester.grant_id,
                idempotency_key,
                request: arguments.clone(),
                status: ApprovalStatus::PendingApproval,
                result: None,
                error_code: None,
                receipt_id: None,
                created_at: now,
                expires_at: now + APPROVAL_WINDOW,
                decided_at: None,
                finished_at: None,
            },
            now,
        )
        .await?;
    let approval = match requested {
        RequestedApproval::Created(approval) => approval,
        RequestedApproval::Repeated(approval) => return Ok(approval),
        RequestedApproval::KeyReused(holder) => {
            return Err(ApiError::ConflictWith {
                code: "idempotency_key_reused",
                message: format!(
                    "this idempotency_key was already used for another swap (approval {}, waiting for the user's \
                     decision until {}); send a new idempotency_key for a different swap",
                    holder.id,
                    holder.expires_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                ),
            });
        }
    };
    state
        .store
        .insert_notification(&Notification {
            id: Uuid::new_v4(),
            user_id: requester.user_id,
            kind: "swap_approval".into(),
            title: "ChatGPT asks to execute a swap".into(),
            body: json!({ "approval_id": approval.id, "request": arguments, "expires_at": approval.expires_at }),
            created_at: now,
            read_at: None,
        })
        .await?;
    Ok(approval)
}

/// The user said no. Deciding twice answers the decision already made.
pub async fn reject(state: &AppState, id: ApprovalId, user_id: UserId) -> Result<SwapApproval, ApiError> {
    match state.store.reject_approval(id, user_id, Utc::now()).await? {
        ClaimOutcome::Won(approval) | ClaimOutcome::AlreadyDecided(approval) => Ok(approval),
        ClaimOutcome::Expired => Err(ApiError::Conflict("this swap request has expired".into())),
        ClaimOutcome::NotFound => Err(ApiError::Missing("no swap approval with this id")),
    }
}

/// The user said yes: claims the approval and runs the swap, once.
pub async fn approve(
    state: &AppState,
    id: ApprovalId,
    user_id: UserId,
    request_id: &str,
) -> Result<SwapApproval, ApiError> {
    let approval = match state.store.claim_approval(id, user_id, Utc::now()).await? {
        ClaimOutcome::Won(approval) => approval,
        // A retry or a concurrent approve: the swap ran (or is running) once already.
        ClaimOutcome::AlreadyDecided(approval) => return Ok(approval),
        ClaimOutcome::Expired => return Err(ApiError::Conflict("this swap request has expired".into())),
        ClaimOutcome::NotFound => return Err(ApiError::Missing("no swap approval with this id")),
    };
    execute(state, &approval, request_id).await
}

/// A swap approval as ChatGPT and Dexter see it.
pub fn view(approval: &SwapApproval) -> Value {
    json!({
        "approval_id": approval.id,
        "status": approval.status_at(Utc::now()).as_str(),
        "request": approval.request,
        "result": approval.result,
        "error_code": approval.error_code,
        "receipt_id": approval.receipt_id,
        "created_at": approval.created_at,
        "expires_at": approval.expires_at,
        "decided_at": approval.decided_at,
        "finished_at": approval.finished_at,
    })
}

/// Runs the approved swap once and records the outcome on the approval, a receipt and a
/// notification.
async fn execute(state: &AppState, approval: &SwapApproval, request_id: &str) -> Result<SwapApproval, ApiError> {
    let now = Utc::now();
    let tool = state.config.mcp.tools.published("solana_swap_execute").to_owned();
    // The ChatGPT link must still be live and the tier must still allow the tool.
    let context = state.store.action_context(approval.grant_id, approval.user_id, now).await?;
    let refusal = match &context {
        None => Some("grant_revoked"),
        Some(c) if !c.grant_live => Some("grant_revoked"),
        Some(c) if !c.allowed_tools.contains(&tool) => Some("tool_not_allowed"),
        _ => None,
    };
    let started = std::time::Instant::now();
    let result = match (refusal, &state.mcp) {
        (Some(code), _) => Err(code.to_owned()),
        (None, None) => Err("upstream_unavailable".to_owned()),
        (None, Some(mcp)) => {
            let caller = McpCaller {
                user_id: approval.user_id,
                scopes: context.map(|c| c.scopes).unwrap_or_default(),
                roles: Vec::new(),
            };
            mcp.call_tool(&caller, &tool, approval.request.clone())
                .await
                .map(|r| r.structured)
                .map_err(|e| e.receipt_status().to_owned())
        }
    };
    let receipt = Receipt {
        id: Uuid::new_v4(),
        user_id: approval.user_id,
        client_id: approval.client_id.clone(),
        action: "swap_execute".into(),
        mcp_tool: Some(tool),
        args_digest: args_digest(&approval.request),
        status: ReceiptStatus::of(&result),
        error_code: result.as_ref().err().cloned(),
        upstream_latency_ms: refusal.is_none().then(|| started.elapsed().as_millis() as i64),
        request_id: request_id.to_owned(),
        approval_id: Some(approval.id),
        created_at: Utc::now(),
    };
    state.store.insert_receipt(&receipt).await?;
    let (outcome, title) = match &result {
        Ok(value) => {
            (ApprovalOutcome::Executed { result: value.clone(), receipt_id: Some(receipt.id) }, "Swap executed")
        }
        Err(code) => (
            ApprovalOutcome::Failed { error_code: code.clone(), result: None, receipt_id: Some(receipt.id) },
            "Swap failed",
        ),
    };
    state.store.finish_approval(approval.id, &outcome, Utc::now()).await?;
    state
        .store
        .insert_notification(&Notification {
            id: Uuid::new_v4(),
            user_id: approval.user_id,
            kind: "swap_result".into(),
            title: title.into(),
            body: json!({ "approval_id": approval.id, "receipt_id": receipt.id, "error_code": result.err() }),
            created_at: Utc::now(),
            read_at: None,
        })
        .await?;
    let finished = state.store.get_approval(approval.id, approval.user_id).await?;
    finished.ok_or_else(|| ApiError::Unexpected(anyhow::anyhow!("approval vanished after execution")))
}
