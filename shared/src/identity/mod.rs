//! Who the person on the login page is: the identity provider that signs a user in by
//! email during the OAuth authorization flow (docs/design.md, "Login").
//!
//! The login page asks for an email address; the provider emails a one-time code and a
//! magic link; the user either types the code or follows the link back to the connector's
//! callback, which carries a `token_hash` and a `type`. Either way the provider answers
//! with the Dexter user id the grant is issued to.
//!
//! Two providers: [`supabase::SupabaseAuth`] speaks Supabase Auth's REST API
//! (`/auth/v1/otp`, `/auth/v1/verify`) in a deployment; [`dev::DevIdentity`] keeps codes in
//! memory and prints them for `connector serve`. [`from_config`] picks one.
//!
//! Once signed in, Dexter's web app holds the user's Supabase session JWT;
//! [`session::SessionVerifier`] checks it on the Dexter-side API, with the project's
//! signing keys from [`jwks`].

pub mod dev;
pub mod jwks;
pub mod session;
pub mod supabase;

use std::sync::Arc;

use async_trait::async_trait;

use crate::config::{Config, IdentityConfig};
use crate::error::error_chain_fmt;

/// Signs a user in by email.
#[async_trait]
pub trait IdentityProvider: Send + Sync {
    /// Emails a one-time code (and a magic link that returns to `magic_link_redirect`).
    /// `captcha_token` is passed on to the provider when it verifies Turnstile itself.
    async fn send_login_email(
        &self,
        email: &str,
        captcha_token: Option<&str>,
        magic_link_redirect: &str,
    ) -> Result<(), IdentityError>;

    /// Checks the one-time code the user typed.
    async fn verify_email_code(&self, email: &str, code: &str) -> Result<IdentityUser, IdentityError>;

    /// Checks the token hash a magic link carried back (`token_hash` and `type` query
    /// parameters).
    async fn verify_magic_link(&self, token_hash: &str, link_type: &str) -> Result<IdentityUser, IdentityError>;

    /// Whether this provider checks the Turnstile token itself (Supabase's captcha
    /// protection). Then the login handler must pass the token on and must NOT call
    /// siteverify first: a token is single use, and spending it would make the provider
    /// refuse it.
    fn verifies_captcha(&self) -> bool {
        false
    }
}

/// The signed-in user: the id grants are issued to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdentityUser {
    pub id: crate::ids::UserId,
    pub email: Option<String>,
}

/// Why a sign-in step failed. The first four are the user's to fix; `Unavailable` is ours.
#[derive(thiserror::Error)]
pub enum IdentityError {
    #[error("the code or link is wrong, expired or already used")]
    InvalidCode,
    #[error("too many attempts; wait a minute and try again")]
    RateLimited,
    #[error("the captcha was not accepted")]
    CaptchaRejected,
    #[error("that is not a valid email address")]
    InvalidEmail,
    #[error("the identity provider is unavailable")]
    Unavailable(#[source] anyhow::Error),
}

impl std::fmt::Debug for IdentityError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        error_chain_fmt(self, f)
    }
}

/// The provider the configuration names.
pub fn from_config(config: &Config, http: reqwest::Client) -> Arc<dyn IdentityProvider> {
    match &config.identity {
        IdentityConfig::Supabase { url, anon_key, captcha } => {
            Arc::new(supabase::SupabaseAuth::new(url, anon_key.clone(), *captcha, http))
        }
        IdentityConfig::Dev => Arc::new(dev::DevIdentity::new()),
    }
}

/// The longest address Supabase Auth accepts.
const MAX_EMAIL_LEN: usize = 255;

/// Trims and lower-cases an address after a cheap shape check (one `@`, something on both
/// sides, a dot in the domain, no spaces). Deliverability is the provider's to judge; this
/// only keeps obvious typos from costing an email-send rate-limit slot.
pub fn normalize_email(email: &str) -> Result<String, IdentityError> {
    let email = email.trim();
    let shaped = email.len() <= MAX_EMAIL_LEN
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && matches!(email.split_once('@'), Some((local, domain))
            if !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.'));
    if shaped { Ok(email.to_lowercase()) } else { Err(IdentityError::InvalidEmail) }
}

/// The magic-link `type`s that sign a user in. Supabase sends a `signup` confirmation
/// instead of a `magiclink` to an address it has not seen, and `email` verifies either.
pub(crate) fn is_sign_in_link_type(link_type: &str) -> bool {
    matches!(link_type, "email" | "magiclink" | "signup")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_addresses_are_trimmed_lowercased_and_shape_checked() {
        assert_eq!(normalize_email("  Ada@Example.COM ").unwrap(), "ada@example.com");
        for bad in [
            "",
            "ada",
            "@example.com",
            "ada@",
            "ada@localhost",
            "ada@@example.com",
            "a da@example.com",
            "ada@example.com.",
        ] {
            assert!(matches!(normalize_email(bad), Err(IdentityError::InvalidEmail)), "{bad}");
        }
    }
}
