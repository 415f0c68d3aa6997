//! Grants (linked accounts) and their refresh tokens (RFC 6749 §6 and the rotation advice
//! of OAuth 2.0 Security BCP §4.14).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::StoreResult;
use crate::ids::{ClientId, GrantId, TokenHash, UserId};

/// One user's authorization of one client: what a "linked account" is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Grant {
    /// The grant id (carried in access tokens).
    pub id: GrantId,
    /// The Dexter user.
    pub user_id: UserId,
    /// The client.
    pub client_id: ClientId,
    /// Consented scopes.
    pub scopes: Vec<String>,
    /// When the grant was created.
    pub created_at: DateTime<Utc>,
    /// Last action or refresh through this grant.
    pub last_used_at: Option<DateTime<Utc>>,
    /// Set once; a revoked grant never comes back.
    pub revoked_at: Option<DateTime<Utc>>,
}

impl Grant {
    /// Whether the grant may still be used.
    pub fn is_live(&self) -> bool {
        self.revoked_at.is_none()
    }
}

/// A live grant with its client's display name, for the linked-accounts list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GrantSummary {
    /// The grant.
    pub grant: Grant,
    /// The client's name.
    pub client_name: String,
}

/// What presenting a refresh token did (see [`GrantStore::rotate_refresh_token`]).
#[derive(Debug, Clone, PartialEq)]
pub enum Rotation {
    /// The presented token was current; it is retired and the new one is current.
    Rotated {
        /// The grant the token belongs to.
        grant: Grant,
    },
    /// The presented token was retired moments ago and no successor of it was used yet: a
    /// retry (or a concurrent refresh). The new token was issued as another successor; the
    /// earlier ones stay usable too, until the client uses one of them.
    ReplayWithinGrace {
        /// The grant the token belongs to.
        grant: Grant,
    },
    /// A retired token came back after the grace window or after a successor was used,
    /// or a superseded token (a tombstone) came back: the grant (and so every token of
    /// it) is now revoked.
    Reused {
        /// The grant that was revoked.
        grant_id: GrantId,
    },
    /// The token is past its expiry; nothing changed.
    Expired,
    /// The token's grant is revoked.
    Revoked,
    /// No such token.
    NotFound,
}

/// Grants and their refresh tokens.
#[async_trait::async_trait]
pub trait GrantStore: Send + Sync {
    // --- grants ---

    /// Stores a new grant; [`StoreError::NotFound`](super::StoreError::NotFound) if its
    /// client does not exist (or was deleted meanwhile).
    async fn create_grant(&self, grant: &Grant) -> StoreResult<()>;
    /// Reads a grant, live or revoked.
    async fn get_grant(&self, id: GrantId) -> StoreResult<Option<Grant>>;
    /// A user's live grants, newest first, with their clients' names.
    async fn list_grants_for_user(&self, user_id: UserId) -> StoreResult<Vec<GrantSummary>>;
    /// Revokes a grant and with it every refresh token; false if not found or already revoked.
    async fn revoke_grant(&self, id: GrantId, now: DateTime<Utc>) -> StoreResult<bool>;
    /// [`GrantStore::revoke_grant`], only if the grant belongs to `user_id`.
    async fn revoke_grant_for_user(&self, id: GrantId, user_id: UserId, now: DateTime<Utc>) -> StoreResult<bool>;
    /// Records use of a grant.
    async fn touch_grant(&self, id: GrantId, now: DateTime<Utc>) -> StoreResult<()>;

    // --- refresh tokens ---

    /// Stores the first refresh token of a grant (by hash).
    async fn create_refresh_token(
        &self,
        token_hash: &TokenHash,
        grant_id: GrantId,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// Exchanges a refresh token for `new_hash`, in one transaction serialised per grant.
    ///
    /// A token is current until used, then retired (pointing at its latest successor).
    /// Presenting a retired token again is a replay. Within `grace` of its retirement, and
    /// while no successor of it has been used, the replay is a client retry (a lost answer,
    /// or refreshes racing each other): a new token is issued as one more successor, and
    /// the earlier successors stay usable, so whichever answer the client kept works.
    /// Using a current token supersedes every other current token of the grant (its
    /// siblings from such retries): they become tombstones. Any other replay, and any
    /// tombstone presented, means a token leaked or the client forked: the grant is
    /// revoked.
    async fn rotate_refresh_token(
        &self,
        presented_hash: &TokenHash,
        new_hash: &TokenHash,
        new_expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
        grace: chrono::Duration,
    ) -> StoreResult<Rotation>;
    /// RFC 7009 for refresh tokens: revokes the token's grant if it belongs to `client_id`.
    /// The revoked grant's id, `None` if the token is unknown or another client's.
    async fn revoke_grant_by_refresh_token(
        &self,
        token_hash: &TokenHash,
        client_id: &ClientId,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<GrantId>>;
}
