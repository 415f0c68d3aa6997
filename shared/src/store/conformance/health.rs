//! Checks of [`Health`](crate::store::Health).

use crate::store::Store;

/// `ping` answers.
pub async fn ping_succeeds(store: &dyn Store) {
    store.ping().await.expect("ping");
}
