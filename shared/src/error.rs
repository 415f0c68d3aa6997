//! The one error type of the HTTP surface and its single mapping to a status and a
//! JSON body `{"error", "message", "request_id"}`.
//!
//! A handler returns `Err(ApiError)`; [`ApiError::into_response`] sets the status and
//! attaches an [`ErrorBody`] to the response. The request middleware
//! ([`crate::http::observe`]) then renders that body with the request id it assigned, so
//! every error, including unknown routes, bad methods and panics, leaves in one shape.
//! Internal causes are logged with the request id, never sent to the caller.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// Everything a request can fail with. Expected failures are variants; anything else is
/// `Unexpected`, whose cause chain is logged and replaced by a generic message.
#[derive(thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("the request body is not valid JSON: {0}")]
    InvalidJson(String),
    #[error("expected a request body with content type {expected}")]
    UnsupportedMediaType { expected: &'static str },
    #[error("the request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("no route for this path")]
    NotFound,
    /// The route exists but the thing it names does not.
    #[error("{0}")]
    Missing(&'static str),
    /// A record the request depends on is gone (e.g. the client was deleted meanwhile).
    #[error("the {0} this request refers to no longer exists")]
    Gone(&'static str),
    #[error("this route does not accept that method")]
    MethodNotAllowed,
    #[error("{message}")]
    Unauthorized {
        /// RFC 6750 error code: `invalid_token` or `invalid_request`.
        code: &'static str,
        message: String,
    },
    #[error("{message}")]
    Forbidden { code: &'static str, message: String },
    #[error("{0}")]
    ServiceUnavailable(String),
    #[error("{0}")]
    Conflict(String),
    /// A conflict with its own stable code (e.g. `idempotency_key_reused`).
    #[error("{message}")]
    ConflictWith { code: &'static str, message: String },
    /// An RFC 6749 §5.2 error from the token or revocation endpoint.
    #[error("{description}")]
    OAuth {
        code: &'static str,
        description: String,
        /// `invalid_client` with HTTP Basic answers 401 with a `Basic` challenge.
        basic_challenge: bool,
    },
    /// The MCP upstream failed (502) or timed out (504). The receipts recording the
    /// failure travel with it.
    #[error("{message}")]
    Upstream { status: u16, code: &'static str, message: String, receipt_ids: Vec<uuid::Uuid> },
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl std::fmt::Debug for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        error_chain_fmt(self, f)
    }
}

/// Writes an error followed by every cause, one per line.
pub fn error_chain_fmt(e: &impl std::error::Error, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
    writeln!(f, "{e}")?;
    let mut cause = e.source();
    while let Some(c) = cause {
        writeln!(f, "caused by: {c}")?;
        cause = c.source();
    }
    Ok(())
}

impl ApiError {
    /// An RFC 6749 §5.2 error.
    pub fn oauth(code: &'static str, description: impl Into<String>) -> ApiError {
        ApiError::OAuth { code, description: description.into(), basic_challenge: false }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) | ApiError::InvalidJson(_) => StatusCode::BAD_REQUEST,
            ApiError::UnsupportedMediaType { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::NotFound | ApiError::Missing(_) | ApiError::Gone(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden { .. } => StatusCode::FORBIDDEN,
            ApiError::ServiceUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Conflict(_) | ApiError::ConflictWith { .. } => StatusCode::CONFLICT,
            ApiError::Upstream { status, .. } => StatusCode::from_u16(*status).unwrap_or(StatusCode::BAD_GATEWAY),
            ApiError::OAuth { code: "invalid_client", .. } => StatusCode::UNAUTHORIZED,
            ApiError::OAuth { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable, machine-readable code in the body's `error` field.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "invalid_request",
            ApiError::InvalidJson(_) => "invalid_json",
            ApiError::UnsupportedMediaType { .. } => "unsupported_media_type",
            ApiError::PayloadTooLarge { .. } => "payload_too_large",
            ApiError::NotFound | ApiError::Missing(_) | ApiError::Gone(_) => "not_found",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::Unauthorized { code, .. } => code,
            ApiError::Forbidden { code, .. } => code,
            ApiError::ServiceUnavailable(_) => "service_unavailable",
            ApiError::Conflict(_) => "conflict",
            ApiError::ConflictWith { code, .. } => code,
            ApiError::Upstream { code, .. } => code,
            ApiError::OAuth { code, .. } => code,
            ApiError::Unexpected(_) => "internal_error",
        }
    }

    fn public_message(&self) -> String {
        match self {
            ApiError::Unexpected(_) => {
                "something went wrong on our side; quote the request id when reporting it".into()
            }
            other => other.to_string(),
        }
    }
}

/// What a `503` asks the caller to wait, in seconds: a database restart or failover
/// measured on this machine took under two.
pub const RETRY_AFTER_SECONDS: &str = "2";

/// The store's failures, as the caller sees them: a conflict is a 409 and a missing
/// record a 404 (never a 500); anything else is unexpected.
impl From<crate::store::StoreError> for ApiError {
    fn from(error: crate::store::StoreError) -> ApiError {
        use crate::store::StoreError;
        match error {
            StoreError::Conflict(what) => ApiError::Conflict(format!("a {what} with this id already exists")),
            StoreError::NotFound(what) => ApiError::Gone(what),
            StoreError::Unavailable(cause) => {
                tracing::warn!(error.cause_chain = ?cause, "the database is unavailable");
                ApiError::ServiceUnavailable(
                    "the service is briefly unavailable; nothing was changed, try again in a few seconds".into(),
                )
            }
            StoreError::Unexpected(cause) => ApiError::Unexpected(cause),
        }
    }
}

/// The error a response carries until the middleware renders it with the request id.
#[derive(Clone, Debug, Serialize)]
pub struct ErrorBody {
    pub error: &'static str,
    pub message: String,
    /// OAuth endpoints also carry RFC 6749's `error_description` (same text).
    pub oauth: bool,
    /// Receipts written for the failed action, so ChatGPT can cite them.
    pub receipt_ids: Vec<uuid::Uuid>,
}

impl ErrorBody {
    /// The JSON document sent to the caller.
    pub fn render(&self, request_id: &str) -> String {
        let mut body = serde_json::json!({ "error": self.error, "message": self.message, "request_id": request_id });
        if self.oauth {
            body["error_description"] = serde_json::Value::String(self.message.clone());
        }
        if !self.receipt_ids.is_empty() {
            body["receipt_ids"] = serde_json::json!(self.receipt_ids);
        }
        body.to_string()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Unexpected(cause) = &self {
            tracing::error!(error.cause_chain = ?cause, "request failed unexpectedly");
        }
        let status = self.status();
        let body = ErrorBody {
            error: self.code(),
            message: self.public_message(),
            oauth: matches!(self, ApiError::OAuth { .. }),
            receipt_ids: match &self {
                ApiError::Upstream { receipt_ids, .. } => receipt_ids.clone(),
                _ => Vec::new(),
            },
        };
        let mut response = (status, [(header::CONTENT_TYPE, "application/json")], body.render("")).into_response();
        if let ApiError::Unauthorized { code, .. } = &self {
            let challenge = format!(r#"Bearer realm="dexter", error="{code}""#);
            if let Ok(value) = HeaderValue::from_str(&challenge) {
                response.headers_mut().insert(header::WWW_AUTHENTICATE, value);
            }
        }
        if let ApiError::OAuth { basic_challenge: true, .. } = &self {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(r#"Basic realm="dexter-oauth", charset="UTF-8""#),
            );
        }
        if matches!(self, ApiError::OAuth { .. }) {
            response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        }
        if matches!(self, ApiError::ServiceUnavailable(_)) {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER_SECONDS));
        }
        response.extensions_mut().insert(body);
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreError;

    #[test]
    fn store_conflicts_and_missing_records_are_not_server_errors() {
        assert_eq!(ApiError::from(StoreError::Conflict("client")).status(), StatusCode::CONFLICT);
        assert_eq!(ApiError::from(StoreError::NotFound("grant")).status(), StatusCode::NOT_FOUND);
        let unexpected = ApiError::from(StoreError::Unexpected(anyhow::anyhow!("connection reset")));
        assert_eq!(unexpected.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!unexpected.public_message().contains("connection reset"));
    }

    #[test]
    fn an_unreachable_database_is_a_503_with_retry_after() {
        let error = ApiError::from(StoreError::Unavailable(anyhow::anyhow!("connection refused")));
        assert_eq!(error.code(), "service_unavailable");
        let response = error.into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], RETRY_AFTER_SECONDS);
    }
}
