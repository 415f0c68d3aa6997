//! Cloudflare Turnstile server-side validation: the login page's widget hands the browser
//! a token, and only Cloudflare's siteverify API can say whether it is real.
//!
//! Wire contract (Cloudflare, "Validate the token"): `POST /turnstile/v0/siteverify` with an
//! `application/x-www-form-urlencoded` body of `secret`, `response` (the token), optional
//! `remoteip` and optional `idempotency_key`; the answer is JSON
//! `{"success", "error-codes", "challenge_ts", "hostname", "action", "cdata"}`. Tokens are at
//! most 2048 characters, valid for five minutes and single use: a second validation
//! answers `timeout-or-duplicate`. A retry that carries the first attempt's
//! `idempotency_key` gets the first answer again instead of spending the token twice, which
//! is what lets [`Turnstile::verify`] retry a call whose answer was lost.
//!
//! A successful answer is only accepted when it says where and why the challenge was
//! solved: `hostname` must be the public host of `PUBLIC_BASE_URL` and `action` must be the
//! one the login page gives its widget ([`LOGIN_ACTION`]). Otherwise a token solved on
//! any other page that uses the same site key (another Dexter page, or an attacker's copy
//! of ours on another host) would pass here. The visitor's address goes along as
//! `remoteip`. Answers larger than [`MAX_ANSWER_BYTES`] are refused unread.
//!
//! With Cloudflare's documented always-pass test secret ([`TURNSTILE_TEST_SECRET`]) every
//! non-empty token passes, so the client answers itself and `connector serve` runs offline.
//! That is the one exception to the hostname and action checks: Cloudflare's test keys
//! answer `hostname: "example.com"` whatever the page, and with the test secret siteverify is
//! not called at all. A deployment refuses the test secret (see `config`).

use std::time::Duration;

use anyhow::{Context, anyhow};
use secrecy::ExposeSecret;
use serde::Deserialize;

use crate::config::{TURNSTILE_TEST_SECRET, TurnstileConfig};
use crate::error::error_chain_fmt;

/// Cloudflare's documented maximum token length.
pub const MAX_TOKEN_LEN: usize = 2048;

/// The `data-action` of the login page's widget, which siteverify echoes back as `action`.
pub const LOGIN_ACTION: &str = "login";

/// The largest siteverify answer read (a real one is a few hundred bytes).
pub const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// Per attempt. The user is waiting on the login page, and two attempts must fit well
/// inside the Lambda's timeout.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(4);
const ATTEMPTS: usize = 2;

/// Verifies Turnstile tokens against the configured siteverify endpoint.
#[derive(Clone, Debug)]
pub struct Turnstile {
    http: reqwest::Client,
    config: TurnstileConfig,
}

/// Where and for what a token must have been solved.
#[derive(Clone, Copy, Debug)]
pub struct Expected<'a> {
    /// The page's host name (`api.dexter.cash`), compared ignoring ASCII case.
    pub hostname: &'a str,
    /// The widget's `data-action`.
    pub action: &'a str,
}

/// Why a token did not pass.
#[derive(thiserror::Error)]
pub enum TurnstileError {
    /// Cloudflare (or the length check) refused the token: forged, expired, already used
    /// (`timeout-or-duplicate`), unknown (`invalid-input-response`), or our secret is wrong
    /// (`invalid-input-secret`). The user can retry with a fresh widget token.
    #[error("the Turnstile token was rejected ({})", codes.join(", "))]
    Rejected { codes: Vec<String> },
    /// siteverify could not answer: network failure, timeout, non-2xx status, malformed
    /// answer, or Cloudflare's own `internal-error`.
    #[error("Turnstile siteverify is unavailable")]
    Unavailable(#[source] anyhow::Error),
}

impl std::fmt::Debug for TurnstileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        error_chain_fmt(self, f)
    }
}

/// The parts of siteverify's answer the connector acts on.
#[derive(Debug, Deserialize)]
struct SiteverifyAnswer {
    success: bool,
    #[serde(rename = "error-codes", default)]
    error_codes: Vec<String>,
    hostname: Option<String>,
    action: Option<String>,
}

impl Turnstile {
    pub fn new(config: TurnstileConfig, http: reqwest::Client) -> Turnstile {
        Turnstile { http, config }
    }

    /// The public site key the login page's widget is rendered with.
    pub fn site_key(&self) -> &str {
        &self.config.site_key
    }

    /// Whether the configured secret is Cloudflare's always-pass test secret.
    pub fn uses_test_keys(&self) -> bool {
        self.config.secret.expose_secret() == TURNSTILE_TEST_SECRET
    }

    /// Checks a widget token once: it must pass and have been solved on `expected`'s
    /// host for `expected`'s action. `remote_ip` is the visitor's address, which Cloudflare
    /// uses as an extra signal.
    #[tracing::instrument(name = "turnstile.verify", skip_all)]
    pub async fn verify(
        &self,
        token: &str,
        remote_ip: Option<&str>,
        expected: Expected<'_>,
    ) -> Result<(), TurnstileError> {
        // Cloudflare would refuse these too; refusing here saves a round trip and keeps
        // oversized input out of the request body.
        if token.is_empty() {
            return Err(rejected("missing-input-response"));
        }
        if token.len() > MAX_TOKEN_LEN {
            return Err(rejected("invalid-input-response"));
        }
        if self.uses_test_keys() {
            tracing::debug!("Turnstile test keys are in use: token accepted without siteverify");
            return Ok(());
        }

        // One key for every attempt: if an answer is lost, the retry is recognised as the
        // same validation and the token is not spent twice.
        let idempotency_key = uuid::Uuid::new_v4().to_string();
        let mut fields = vec![
            ("secret", self.config.secret.expose_secret()),
            ("response", token),
            ("idempotency_key", idempotency_key.as_str()),
        ];
        if let Some(ip) = remote_ip.filter(|ip| !ip.is_empty()) {
            fields.push(("remoteip", ip));
        }
        let body = form_urlencode(&fields);

        let mut last_failure = anyhow!("siteverify was not called");
        for attempt in 1..=ATTEMPTS {
            match self.call(body.clone()).await {
                Ok(answer) => return judge(answer, expected),
                Err(Attempt::Final(e)) => return Err(TurnstileError::Unavailable(e)),
                Err(Attempt::Retryable(e)) => {
                    tracing::warn!(attempt, error = %format!("{e:#}"), "siteverify attempt failed");
                    last_failure = e;
                }
            }
        }
        Err(TurnstileError::Unavailable(last_failure))
    }

    async fn call(&self, body: String) -> Result<SiteverifyAnswer, Attempt> {
        let response = self
            .http
            .post(&self.config.siteverify_url)
            .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body)
            .timeout(ATTEMPT_TIMEOUT)
            .send()
            .await
            // `without_url`: the URL holds nothing secret, but keep errors short and uniform.
            .map_err(|e| Attempt::Retryable(anyhow!(e.without_url()).context("calling siteverify")))?;
        let status = response.status();
        if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            return Err(Attempt::Retryable(anyhow!("siteverify answered {status}")));
        }
        if !status.is_success() {
            return Err(Attempt::Final(anyhow!("siteverify answered {status}")));
        }
        let body = crate::tls::read_limited(response, MAX_ANSWER_BYTES)
            .await
            .context("reading siteverify's answer")
            .map_err(Attempt::Final)?;
        serde_json::from_slice::<SiteverifyAnswer>(&body)
            .context("siteverify's answer is not the documented JSON")
            .map_err(Attempt::Final)
    }
}

/// How one HTTP attempt failed: worth another try with the same idempotency key, or not.
enum Attempt {
    Retryable(anyhow::Error),
    Final(anyhow::Error),
}

fn judge(answer: SiteverifyAnswer, expected: Expected<'_>) -> Result<(), TurnstileError> {
    if answer.success {
        let hostname = answer.hostname.as_deref().unwrap_or("");
        let action = answer.action.as_deref().unwrap_or("");
        if !hostname.eq_ignore_ascii_case(expected.hostname) {
            tracing::info!(hostname, expected = expected.hostname, "Turnstile token solved on another host");
            return Err(rejected("hostname-mismatch"));
        }
        if action != expected.action {
            tracing::info!(action, expected = expected.action, "Turnstile token solved for another action");
            return Err(rejected("action-mismatch"));
        }
        tracing::debug!(hostname, action, "Turnstile token verified");
        return Ok(());
    }
    let codes = answer.error_codes;
    // Cloudflare documents `internal-error` as its own failure, to be retried: not the
    // visitor's fault, so it must not read as a rejected challenge.
    if codes.iter().any(|c| c == "internal-error") {
        return Err(TurnstileError::Unavailable(anyhow!("siteverify reported internal-error")));
    }
    // A bad secret is our misconfiguration and will refuse every visitor: say so loudly.
    if codes.iter().any(|c| c == "invalid-input-secret" || c == "missing-input-secret") {
        tracing::error!(
            codes = ?codes,
            "siteverify refused our Turnstile secret: check TURNSTILE_SECRET_KEY"
        );
    } else {
        tracing::info!(codes = ?codes, "Turnstile token rejected");
    }
    Err(TurnstileError::Rejected { codes })
}

fn rejected(code: &str) -> TurnstileError {
    TurnstileError::Rejected { codes: vec![code.to_owned()] }
}

/// An `application/x-www-form-urlencoded` body (WHATWG URL standard serializer): reqwest's
/// `.form()` needs its `form` feature, which this workspace does not enable.
fn form_urlencode(fields: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (i, (name, value)) in fields.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        encode_component(&mut out, name);
        out.push('=');
        encode_component(&mut out, value);
    }
    out
}

fn encode_component(out: &mut String, text: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' => {
                out.push(char::from(byte));
            }
            b' ' => out.push('+'),
            _ => {
                out.push('%');
                out.push(char::from(HEX[usize::from(byte >> 4)]));
                out.push(char::from(HEX[usize::from(byte & 0x0f)]));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(hostname: &str, action: &str) -> SiteverifyAnswer {
        SiteverifyAnswer {
            success: true,
            error_codes: Vec::new(),
            hostname: Some(hostname.into()),
            action: Some(action.into()),
        }
    }

    #[test]
    fn a_passed_challenge_counts_only_for_our_host_and_the_login_action() {
        let expected = Expected { hostname: "api.dexter.cash", action: LOGIN_ACTION };
        assert!(judge(answer("api.dexter.cash", "login"), expected).is_ok());
        assert!(judge(answer("API.Dexter.cash", "login"), expected).is_ok());
        for (hostname, action) in [("evil.example", "login"), ("example.com", "login"), ("api.dexter.cash", "signup")] {
            let err = judge(answer(hostname, action), expected).unwrap_err();
            assert!(matches!(err, TurnstileError::Rejected { .. }), "{hostname} {action}: {err:?}");
        }
        let missing = SiteverifyAnswer { success: true, error_codes: Vec::new(), hostname: None, action: None };
        assert!(judge(missing, expected).is_err());
    }

    #[test]
    fn form_bodies_are_encoded_as_browsers_encode_them() {
        assert_eq!(
            form_urlencode(&[("secret", "a b&c=d"), ("response", "x.y_z-*~/é")]),
            "secret=a+b%26c%3Dd&response=x.y_z-*%7E%2F%C3%A9"
        );
    }

    #[tokio::test]
    async fn empty_and_oversized_tokens_are_rejected_without_a_call() {
        let turnstile = Turnstile::new(
            TurnstileConfig {
                site_key: "site".into(),
                secret: "real-secret".into(),
                // Nothing listens here: a call would fail as Unavailable.
                siteverify_url: "http://127.0.0.1:9/turnstile/v0/siteverify".into(),
            },
            crate::tls::client(),
        );
        let expected = Expected { hostname: "api.dexter.cash", action: LOGIN_ACTION };
        for token in [String::new(), "t".repeat(MAX_TOKEN_LEN + 1)] {
            let err = turnstile.verify(&token, None, expected).await.unwrap_err();
            assert!(matches!(err, TurnstileError::Rejected { .. }), "{err:?}");
        }
    }
}
