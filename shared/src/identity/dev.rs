//! The local identity provider for `connector serve`: nothing is emailed; the one-time
//! code and the magic link are printed to the console, and users live in memory.
//!
//! It keeps Supabase's rules so the login pages behave the same locally: 6-digit codes,
//! valid 10 minutes, single use; a new send replaces the previous code; the code and the
//! link are one credential, so using either spends both. On top, a code dies after 5
//! wrong guesses, since a million codes are otherwise guessable by brute force.
//!
//! `dev@dexter.local` is the dev user `connector serve` seeds ([`DEV_USER_ID`]); any other
//! address gets a random id on first use, kept for the life of the process.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use anyhow::Context;
use async_trait::async_trait;
use rand::Rng;
use uuid::Uuid;

use super::{IdentityError, IdentityProvider, IdentityUser, is_sign_in_link_type, normalize_email};
use crate::ids::UserId;

/// The local developer account `connector serve` seeds.
pub const DEV_USER_ID: UserId = UserId::from_uuid(Uuid::from_u128(0x00000000_0000_4000_8000_00000000d3e7));
pub const DEV_USER_EMAIL: &str = "dev@dexter.local";

const CODE_TTL: Duration = Duration::from_secs(10 * 60);
const MAX_WRONG_ATTEMPTS: u32 = 5;

/// In-memory codes, links and users.
#[derive(Debug, Default)]
pub struct DevIdentity {
    state: Mutex<DevState>,
}

#[derive(Debug, Default)]
struct DevState {
    /// By normalised email: the one live sign-in credential for that address.
    pending: HashMap<String, Pending>,
    users: HashMap<String, UserId>,
}

#[derive(Debug)]
struct Pending {
    code: String,
    token_hash: String,
    magic_link: String,
    issued_at: Instant,
    wrong_attempts: u32,
}

impl Pending {
    fn expired(&self) -> bool {
        self.issued_at.elapsed() >= CODE_TTL
    }
}

impl DevIdentity {
    pub fn new() -> DevIdentity {
        DevIdentity::default()
    }

    /// The code last sent to `email` while it is still usable: for tests, which cannot
    /// read the console.
    pub fn pending_code(&self, email: &str) -> Option<String> {
        let email = normalize_email(email).ok()?;
        let state = self.lock();
        state.pending.get(&email).filter(|p| !p.expired()).map(|p| p.code.clone())
    }

    /// The magic link last sent to `email` while it is still usable: for tests.
    pub fn pending_magic_link(&self, email: &str) -> Option<String> {
        let email = normalize_email(email).ok()?;
        let state = self.lock();
        state.pending.get(&email).filter(|p| !p.expired()).map(|p| p.magic_link.clone())
    }

    fn lock(&self) -> MutexGuard<'_, DevState> {
        // A panic while holding the lock leaves the maps consistent (every update is a
        // single insert or remove), so a poisoned lock is safe to keep using.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl DevState {
    /// The user for an address, created on first use.
    fn user(&mut self, email: &str) -> IdentityUser {
        let id = *self
            .users
            .entry(email.to_owned())
            .or_insert_with(|| if email == DEV_USER_EMAIL { DEV_USER_ID } else { UserId::random() });
        IdentityUser { id, email: Some(email.to_owned()) }
    }
}

#[async_trait]
impl IdentityProvider for DevIdentity {
    async fn send_login_email(
        &self,
        email: &str,
        _captcha_token: Option<&str>,
        magic_link_redirect: &str,
    ) -> Result<(), IdentityError> {
        let email = normalize_email(email)?;
        let code = format!("{:06}", rand::rngs::OsRng.gen_range(0..1_000_000u32));
        let token_hash = crate::config::random_secret();
        let mut link = reqwest::Url::parse(magic_link_redirect)
            .context("the magic link's return address is not a URL")
            .map_err(IdentityError::Unavailable)?;
        link.query_pairs_mut().append_pair("token_hash", &token_hash).append_pair("type", "magiclink");
        let magic_link = link.to_string();

        // The issue asks for the code on the console: this provider's whole point.
        println!("[dev login] one-time code for {email}: {code}");
        println!("[dev login] magic link for {email}: {magic_link}");

        self.lock()
            .pending
            .insert(email, Pending { code, token_hash, magic_link, issued_at: Instant::now(), wrong_attempts: 0 });
        Ok(())
    }

    async fn verify_email_code(&self, email: &str, code: &str) -> Result<IdentityUser, IdentityError> {
        let email = normalize_email(email)?;
        let mut state = self.lock();
        let Some(pending) = state.pending.get_mut(&email) else {
            return Err(IdentityError::InvalidCode);
        };
        if pending.expired() {
            state.pending.remove(&email);
            return Err(IdentityError::InvalidCode);
        }
        if pending.code != code.trim() {
            pending.wrong_attempts += 1;
            if pending.wrong_attempts >= MAX_WRONG_ATTEMPTS {
                state.pending.remove(&email);
            }
            return Err(IdentityError::InvalidCode);
        }
        state.pending.remove(&email);
        Ok(state.user(&email))
    }

    async fn verify_magic_link(&self, token_hash: &str, link_type: &str) -> Result<IdentityUser, IdentityError> {
        if token_hash.is_empty() || !is_sign_in_link_type(link_type) {
            return Err(IdentityError::InvalidCode);
        }
        let mut state = self.lock();
        let email = state
            .pending
            .iter()
            .find(|(_, p)| p.token_hash == token_hash)
            .map(|(email, p)| (email.clone(), p.expired()));
        let Some((email, expired)) = email else {
            return Err(IdentityError::InvalidCode);
        };
        state.pending.remove(&email);
        if expired {
            return Err(IdentityError::InvalidCode);
        }
        Ok(state.user(&email))
    }
}
