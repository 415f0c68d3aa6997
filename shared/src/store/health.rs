//! Whether the backend answers, and getting it ready before the first request.

/// The backend itself, rather than any record family.
#[async_trait::async_trait]
pub trait Health: Send + Sync {
    /// A cheap round trip to the backend, for `/healthz`.
    async fn ping(&self) -> super::StoreResult<()>;

    /// Opens what the first request will need (a pooled connection), so that a cold
    /// start pays for it while the runtime waits for its first event. Best effort:
    /// a failure here is met again, and reported, by that request.
    async fn warm(&self) {}
}
