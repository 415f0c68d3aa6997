//! Email sign-in through Supabase Auth (GoTrue), as its REST API speaks it
//! (supabase/auth `internal/api/otp.go`, `verify.go`, `apierrors/errorcode.go`; auth-js
//! `signInWithOtp` / `verifyOtp`).
//!
//! - `POST {url}/auth/v1/otp?redirect_to=<callback>` with `apikey` and `Authorization:
//!   Bearer` set to the anon key and JSON `{"email", "create_user": true, "data": {},
//!   "gotrue_meta_security": {"captcha_token"}}` emails a code and a link; 200 `{}`.
//!   No `code_challenge`: with PKCE the link's hash would need a second exchange call.
//! - `POST {url}/auth/v1/verify` with `{"type": "email", "email", "token"}` (typed code)
//!   or `{"type", "token_hash"}` (link) answers 200 with a session whose `user.id` is
//!   the Dexter user id. The session itself is not kept: the connector issues its own
//!   tokens.
//!
//! For the link to come back with a `token_hash`, the project's "Magic Link" and
//! "Confirm signup" email templates must link to
//! `{{ .RedirectTo }}&token_hash={{ .TokenHash }}&type=email` (the server-side pattern
//! Supabase documents), and the callback URL must be in the project's Redirect URLs.
//!
//! Errors come in three shapes depending on the API version and the layer that answers:
//! `{"code": 403, "error_code": "otp_expired", "msg"}` (default), `{"code": "otp_expired",
//! "message"}` (`X-Supabase-Api-Version: 2024-01-01`) and `{"error", "error_description"}`
//! (older GoTrue and OAuth paths); the `x-sb-error-code` header repeats the code. The code
//! decides first, the HTTP status second.
//!
//! Neither call is retried: a retried `/otp` sends a second email and re-spends the
//! single-use captcha token; a retried `/verify` finds its code already used.

use std::time::Duration;

use anyhow::{Context, anyhow};
use async_trait::async_trait;
use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{IdentityError, IdentityProvider, IdentityUser, is_sign_in_link_type, normalize_email};
use crate::config::CaptchaVerifier;

/// `/otp` sends the email before it answers, so allow for a slow mail server.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The largest answer read from Supabase Auth: a session with its user is a few KiB; a
/// bigger one is refused unread rather than buffered.
pub const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// Supabase's one-time codes are 6 to 10 digits, depending on the project's settings.
const CODE_DIGITS: std::ops::RangeInclusive<usize> = 6..=10;

/// Supabase's token hashes are hex digests (`pkce_`-prefixed under PKCE); anything far
/// longer is not one.
const MAX_TOKEN_HASH_LEN: usize = 256;

/// The Supabase Auth client.
#[derive(Clone, Debug)]
pub struct SupabaseAuth {
    http: reqwest::Client,
    /// The project URL without a trailing slash.
    base_url: String,
    anon_key: SecretString,
    captcha: CaptchaVerifier,
}

/// Which call failed: the same error code means different things on each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Call {
    Otp,
    Verify,
}

impl SupabaseAuth {
    pub fn new(url: &str, anon_key: SecretString, captcha: CaptchaVerifier, http: reqwest::Client) -> SupabaseAuth {
        SupabaseAuth { http, base_url: url.trim_end_matches('/').to_owned(), anon_key, captcha }
    }

    async fn post(&self, call: Call, url: reqwest::Url, body: Value) -> Result<Value, IdentityError> {
        let key = self.anon_key.expose_secret();
        let response = self
            .http
            .post(url)
            .header("apikey", key)
            .bearer_auth(key)
            .json(&body)
            .timeout(REQUEST_TIMEOUT)
            .send()
            .await
            // The URL carries the redirect only, but errors stay short without it.
            .map_err(|e| unavailable(anyhow!(e.without_url()).context("calling Supabase Auth")))?;
        let status = response.status();
        let header_code = response.headers().get("x-sb-error-code").and_then(|v| v.to_str().ok()).map(str::to_owned);
        let body = crate::tls::read_limited(response, MAX_ANSWER_BYTES)
            .await
            .context("reading Supabase Auth's answer")
            .map_err(unavailable)?;
        let text = String::from_utf8_lossy(&body);
        if status.is_success() {
            // `/otp` answers `{}`; an empty body is as good.
            if text.trim().is_empty() {
                return Ok(Value::Null);
            }
            return serde_json::from_str(&text).context("Supabase Auth's answer is not JSON").map_err(unavailable);
        }
        let failure = Failure::parse(status, header_code, &text);
        let error = failure.classify(call);
        match &error {
            IdentityError::Unavailable(_) => {
                tracing::error!(?call, status = status.as_u16(), code = %failure.code, message = %failure.message, "Supabase Auth failed")
            }
            _ => {
                tracing::info!(?call, status = status.as_u16(), code = %failure.code, "Supabase Auth refused")
            }
        }
        Err(error)
    }

    fn endpoint(&self, path: &str) -> Result<reqwest::Url, IdentityError> {
        reqwest::Url::parse(&format!("{}/auth/v1/{path}", self.base_url))
            .context("the Supabase URL does not make an endpoint URL")
            .map_err(unavailable)
    }

    async fn verify(&self, body: Value) -> Result<IdentityUser, IdentityError> {
        let session = self.post(Call::Verify, self.endpoint("verify")?, body).await?;
        let user: SessionUser = serde_json::from_value(session.get("user").cloned().unwrap_or_default())
            .context("Supabase Auth's session has no user with an id")
            .map_err(unavailable)?;
        Ok(IdentityUser { id: user.id, email: user.email.filter(|e| !e.is_empty()) })
    }
}

#[async_trait]
impl IdentityProvider for SupabaseAuth {
    #[tracing::instrument(name = "supabase.send_login_email", skip_all)]
    async fn send_login_email(
        &self,
        email: &str,
        captcha_token: Option<&str>,
        magic_link_redirect: &str,
    ) -> Result<(), IdentityError> {
        let email = normalize_email(email)?;
        let mut url = self.endpoint("otp")?;
        // auth-js passes the link's return address as a query parameter, not in the body.
        url.query_pairs_mut().append_pair("redirect_to", magic_link_redirect);
        let mut body = json!({
            "email": email,
            // A first sign-in creates the Dexter account, as on dexter.cash.
            "create_user": true,
            "data": {},
        });
        if let Some(token) = captcha_token {
            body["gotrue_meta_security"] = json!({ "captcha_token": token });
        }
        self.post(Call::Otp, url, body).await.map(drop)
    }

    #[tracing::instrument(name = "supabase.verify_email_code", skip_all)]
    async fn verify_email_code(&self, email: &str, code: &str) -> Result<IdentityUser, IdentityError> {
        let email = normalize_email(email)?;
        let code = code.trim();
        if !CODE_DIGITS.contains(&code.len()) || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(IdentityError::InvalidCode);
        }
        self.verify(json!({ "type": "email", "email": email, "token": code })).await
    }

    #[tracing::instrument(name = "supabase.verify_magic_link", skip_all, fields(link_type = %link_type))]
    async fn verify_magic_link(&self, token_hash: &str, link_type: &str) -> Result<IdentityUser, IdentityError> {
        // Only sign-in links: a `recovery` or `email_change` hash must not log anyone in.
        let shaped = !token_hash.is_empty()
            && token_hash.len() <= MAX_TOKEN_HASH_LEN
            && token_hash.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !shaped || !is_sign_in_link_type(link_type) {
            return Err(IdentityError::InvalidCode);
        }
        self.verify(json!({ "type": link_type, "token_hash": token_hash })).await
    }

    fn verifies_captcha(&self) -> bool {
        self.captcha == CaptchaVerifier::Supabase
    }
}

#[derive(Deserialize)]
struct SessionUser {
    id: crate::ids::UserId,
    email: Option<String>,
}

/// A refusal from Supabase Auth, whichever of its shapes it came in.
#[derive(Debug)]
struct Failure {
    status: StatusCode,
    /// The machine-readable code, or "" when the answer carried none.
    code: String,
    /// Supabase's human message: safe to log (it never echoes codes or keys).
    message: String,
}

impl Failure {
    fn parse(status: StatusCode, header_code: Option<String>, text: &str) -> Failure {
        let body: Value = serde_json::from_str(text).unwrap_or_default();
        let field = |name: &str| body.get(name).and_then(Value::as_str).map(str::to_owned);
        let code = field("error_code")
            // API version 2024-01-01 puts the string code in `code` (else the status).
            .or_else(|| field("code"))
            .or(header_code)
            .or_else(|| field("error"))
            .unwrap_or_default();
        let message = ["msg", "message", "error_description"].into_iter().find_map(field).unwrap_or_default();
        Failure { status, code, message }
    }

    fn classify(&self, call: Call) -> IdentityError {
        match (self.code.as_str(), call) {
            ("captcha_failed", _) => IdentityError::CaptchaRejected,
            ("over_email_send_rate_limit" | "over_request_rate_limit", _) => IdentityError::RateLimited,
            ("email_address_invalid" | "validation_failed", Call::Otp) => IdentityError::InvalidEmail,
            // Wrong, expired, used, or for a banned user: in every case the code does not
            // sign anyone in, and the user's next step is a new code.
            ("otp_expired" | "validation_failed" | "user_banned" | "user_not_found", Call::Verify)
            | ("flow_state_not_found" | "flow_state_expired" | "invalid_grant", Call::Verify) => {
                IdentityError::InvalidCode
            }
            // Older GoTrue answered a bad code with a bare 401/403 `{"code", "msg"}`.
            ("", Call::Verify) | ("unknown", Call::Verify) if matches!(self.status.as_u16(), 401 | 403 | 404) => {
                IdentityError::InvalidCode
            }
            _ if self.status == StatusCode::TOO_MANY_REQUESTS => IdentityError::RateLimited,
            // Everything else (signups or email logins disabled, SMTP refusing the address,
            // a bad anon key, 5xx) is the operator's to fix, not the user's.
            _ => unavailable(anyhow!(
                "Supabase Auth answered {} ({}): {}",
                self.status,
                if self.code.is_empty() { "no error code" } else { &self.code },
                self.message
            )),
        }
    }
}

fn unavailable(e: anyhow::Error) -> IdentityError {
    IdentityError::Unavailable(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classify(status: u16, header: Option<&str>, body: &str, call: Call) -> IdentityError {
        Failure::parse(StatusCode::from_u16(status).unwrap(), header.map(str::to_owned), body).classify(call)
    }

    #[test]
    fn every_error_shape_supabase_speaks_is_understood() {
        // Default shape.
        let e = classify(
            403,
            Some("otp_expired"),
            r#"{"code":403,"error_code":"otp_expired","msg":"Token has expired or is invalid"}"#,
            Call::Verify,
        );
        assert!(matches!(e, IdentityError::InvalidCode), "{e:?}");
        // API version 2024-01-01.
        let e = classify(
            400,
            None,
            r#"{"code":"captcha_failed","message":"captcha protection: request disallowed"}"#,
            Call::Otp,
        );
        assert!(matches!(e, IdentityError::CaptchaRejected), "{e:?}");
        // Older GoTrue: the OAuth shape, or a bare status and message.
        let e = classify(
            400,
            None,
            r#"{"error":"invalid_grant","error_description":"Token has expired or is invalid"}"#,
            Call::Verify,
        );
        assert!(matches!(e, IdentityError::InvalidCode), "{e:?}");
        let e = classify(403, None, r#"{"code":403,"msg":"Token has expired or is invalid"}"#, Call::Verify);
        assert!(matches!(e, IdentityError::InvalidCode), "{e:?}");
        // Only the header carries the code; the body is not even JSON.
        let e = classify(429, Some("over_email_send_rate_limit"), "slow down", Call::Otp);
        assert!(matches!(e, IdentityError::RateLimited), "{e:?}");
    }

    #[test]
    fn the_same_code_means_different_things_on_each_call() {
        let body =
            r#"{"code":400,"error_code":"validation_failed","msg":"Unable to validate email address: invalid format"}"#;
        assert!(matches!(classify(400, None, body, Call::Otp), IdentityError::InvalidEmail));
        assert!(matches!(classify(400, None, body, Call::Verify), IdentityError::InvalidCode));
    }

    #[test]
    fn operator_problems_are_unavailable_and_name_the_code() {
        for (status, body) in [
            (422, r#"{"code":422,"error_code":"otp_disabled","msg":"Signups not allowed for otp"}"#),
            (400, r#"{"code":400,"error_code":"email_address_not_authorized","msg":"Email address not authorized"}"#),
            (500, r#"{"code":500,"error_code":"unexpected_failure","msg":"Internal Server Error"}"#),
            (502, "<html>Bad Gateway</html>"),
        ] {
            let e = classify(status, None, body, Call::Otp);
            let IdentityError::Unavailable(cause) = &e else {
                panic!("{status}: {e:?}");
            };
            assert!(cause.to_string().contains(&status.to_string()), "{cause}");
        }
    }
}
