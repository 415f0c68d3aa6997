//! Storage: every record the connector keeps, behind one narrow trait per record family,
//! summed up as [`Store`].
//!
//! The families: [`Health`] (ping and warm-up), [`ProfileStore`] (profiles and tier
//! entitlements, and the per-action context), [`ClientStore`] (OAuth clients),
//! [`AuthorizationStore`] (in-flight authorization requests and authorization codes),
//! [`GrantStore`] (grants and their refresh tokens: RFC 6749 §4.1, §6 and the rotation
//! advice of OAuth 2.0 Security BCP §4.14), [`ReceiptStore`] (receipts),
//! [`ApprovalStore`] (swap approvals), [`NotificationStore`] (notifications and voice
//! handoffs), [`LimitStore`] (rate-limit counters shared by every instance) and
//! [`SweepStore`] (removing what is no longer needed, so nothing grows without bound). Each
//! lives in its own module with the records it uses; everything is re-exported here, and
//! [`prelude`] brings every trait into scope (method calls on a concrete backend need the
//! family's trait in scope; on `dyn Store` they do not).
//!
//! Two backends implement every family: [`memory::MemoryStore`] for `connector serve`
//! without a database, and [`postgres::PgStore`] for Supabase. Both must pass the one
//! [`conformance`] suite, which is the executable specification of the semantics
//! documented here.
//!
//! Conventions every method follows:
//! - secrets are never stored: codes and refresh tokens are looked up by the SHA-256 hex
//!   the caller computed ([`crate::tokens::hash`], a [`TokenHash`](crate::ids::TokenHash));
//! - ids are typed ([`crate::ids`]): a grant id cannot be passed where a user id belongs;
//! - anything that depends on time takes `now` from the caller, so tests control the clock;
//! - timestamps are kept to the microsecond (Postgres precision);
//! - "not there" is `Ok(None)` or `Ok(false)`; [`StoreError`] is for what a caller must
//!   handle differently ([`StoreError::Conflict`], [`StoreError::NotFound`]) and for faults.

pub mod approvals;
pub mod authorization;
pub mod clients;
pub mod grants;
pub mod health;
pub mod limits;
pub mod notifications;
pub mod profiles;
pub mod receipts;
pub mod sweep;

pub mod memory;
pub mod migrate;
pub mod postgres;

// Always compiled (it is small, and unused code is dropped from the Lambda binaries):
// a feature flag would give the test build and the function builds two different
// `shared` artifacts and double the work of every build.
pub mod conformance;

pub use approvals::{ApprovalOutcome, ApprovalStatus, ApprovalStore, ClaimOutcome, RequestedApproval, SwapApproval};
pub use authorization::{
    AuthorizationCode, AuthorizationRequest, AuthorizationStore, CodeExchange, CodeMismatch, CodeRedemption,
};
pub use clients::{ClientKind, ClientRegistration, ClientStore, OAuthClient};
pub use grants::{Grant, GrantStore, GrantSummary, Rotation};
pub use health::Health;
pub use limits::{LimitKey, LimitStore};
pub use memory::MemoryStore;
pub use notifications::{Notification, NotificationStore, VoiceHandoff};
pub use postgres::PgStore;
pub use profiles::{ActionContext, LAST_USED_GRANULARITY, Profile, ProfileStore};
pub use receipts::{Receipt, ReceiptCursor, ReceiptStatus, ReceiptStore};
pub use sweep::{SweepReport, SweepStore};

/// Every store trait, for `use crate::store::prelude::*;` where a concrete backend's
/// methods are called.
pub mod prelude {
    pub use super::{
        ApprovalStore, AuthorizationStore, ClientStore, GrantStore, Health, LimitStore, NotificationStore,
        ProfileStore, ReceiptStore, Store, SweepStore,
    };
}

/// The outcome of every store operation.
pub type StoreResult<T> = Result<T, StoreError>;

/// Why a store operation did not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A record with the same key already exists (a duplicate client id or code hash).
    #[error("{0} already exists")]
    Conflict(&'static str),
    /// A record the operation depends on is missing (e.g. the grant's client was deleted).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The database cannot be reached right now (down, restarting, failing over, or the
    /// pool found no live connection in time). Nothing was changed, or nothing that was
    /// answered for: the caller may retry shortly; callers answer 503 with `Retry-After`.
    #[error("the database is unavailable")]
    Unavailable(#[source] anyhow::Error),
    /// The database failed or returned something we cannot read.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Everything the connector stores: the sum of the record families, shared as
/// `Arc<dyn Store>`. Implemented for every type that implements each family.
pub trait Store:
    Health
    + ProfileStore
    + ClientStore
    + AuthorizationStore
    + GrantStore
    + ReceiptStore
    + ApprovalStore
    + NotificationStore
    + LimitStore
    + SweepStore
{
}

impl<T> Store for T where
    T: Health
        + ProfileStore
        + ClientStore
        + AuthorizationStore
        + GrantStore
        + ReceiptStore
        + ApprovalStore
        + NotificationStore
        + LimitStore
        + SweepStore
{
}
