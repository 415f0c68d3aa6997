//! [`SweepStore`] in memory, and the caps on what has no expiry.
//!
//! `connector serve` runs the sweep periodically on whichever store it has (see
//! cli/src/serve.rs); notifications and receipts, which only age, are also capped per
//! user at insert ([`NOTIFICATIONS_PER_USER`], [`RECEIPTS_PER_USER`]), oldest first out,
//! so a long-running dev server stays bounded however it is used.

use std::collections::VecDeque;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{MemoryStore, State};
use crate::ids::{ClientId, UserId};
use crate::store::clients::UNUSED_REGISTRATION_TTL;
use crate::store::sweep::{
    NOTIFICATION_RETENTION, OUTCOME_UNKNOWN_CODE, RATE_LIMIT_RETENTION, READ_NOTIFICATION_RETENTION,
    SPENT_CODE_RETENTION, STUCK_EXECUTION, outcome_unknown_notification,
};
use crate::store::{ApprovalStatus, ClientKind, StoreResult, SweepReport, SweepStore};

/// Notifications kept per user in memory (the newest).
pub const NOTIFICATIONS_PER_USER: usize = 500;
/// Receipts kept per user in memory (the newest). The Postgres store keeps every receipt.
pub const RECEIPTS_PER_USER: usize = 10_000;

#[async_trait]
impl SweepStore for MemoryStore {
    async fn sweep(&self, now: DateTime<Utc>) -> StoreResult<SweepReport> {
        Ok(self.state()?.sweep(now))
    }
}

/// How many entries `retain` removed.
fn removed<K, V>(map: &mut std::collections::HashMap<K, V>, keep: impl FnMut(&K, &mut V) -> bool) -> u64 {
    let was = map.len();
    map.retain(keep);
    (was - map.len()) as u64
}

impl State {
    /// The sweep, under the store's one lock (so one step, however many callers).
    fn sweep(&mut self, now: DateTime<Utc>) -> SweepReport {
        let stuck_approvals = self.resolve_stuck_approvals(now);
        let spent_codes_before = now - SPENT_CODE_RETENTION;
        let old = now - NOTIFICATION_RETENTION;
        let read_long_ago = now - READ_NOTIFICATION_RETENTION;
        let windows_before = now - RATE_LIMIT_RETENTION;
        let report = SweepReport {
            stuck_approvals,
            authorization_requests: removed(&mut self.authorization_requests, |_, r| r.expires_at > now),
            authorization_codes: removed(&mut self.codes, |_, c| match c.used_at {
                None => c.code.expires_at > now,
                Some(_) => c.code.expires_at > spent_codes_before,
            }),
            refresh_tokens: removed(&mut self.refresh_tokens, |_, t| t.expires_at > now),
            voice_handoffs: removed(&mut self.voice_handoffs, |_, h| h.consumed_at.is_none() && h.expires_at > now),
            notifications: removed(&mut self.notifications, |_, n| {
                n.created_at >= old && n.read_at.is_none_or(|read| read >= read_long_ago)
            }),
            rate_limit_windows: removed(&mut self.rate_limits, |(_, _, start), _| *start >= windows_before),
            // After requests and codes: an expired one no longer keeps its client.
            client_registrations: self.remove_dead_registrations(now),
            client_assertions: removed(&mut self.assertion_jtis, |_, expires_at| *expires_at > now),
        };
        let (notifications, receipts) = (&self.notifications, &self.receipts);
        for order in self.notification_order.values_mut() {
            order.retain(|id| notifications.contains_key(id));
        }
        self.notification_order.retain(|_, order| !order.is_empty());
        for order in self.receipt_order.values_mut() {
            order.retain(|id| receipts.contains_key(id));
        }
        self.receipt_order.retain(|_, order| !order.is_empty());
        report
    }

    /// Self-registered clients never used and past [`UNUSED_REGISTRATION_TTL`] that no
    /// grant, code or authorization request names: their rows and registrations go.
    fn remove_dead_registrations(&mut self, now: DateTime<Utc>) -> u64 {
        let dead: Vec<ClientId> = self
            .registrations
            .values()
            .filter(|r| {
                r.kind == ClientKind::Dynamic
                    && r.last_used_at.is_none()
                    && r.registered_at + UNUSED_REGISTRATION_TTL <= now
            })
            .map(|r| r.client_id.clone())
            .filter(|id| {
                !self.grants.values().any(|g| g.client_id == *id)
                    && !self.codes.values().any(|c| c.code.client_id == *id)
                    && !self.authorization_requests.values().any(|r| r.client_id == *id)
            })
            .collect();
        for id in &dead {
            self.registrations.remove(id);
            self.clients.remove(id);
        }
        dead.len() as u64
    }

    /// Approvals `executing` since before `now - STUCK_EXECUTION` become `unknown`, each
    /// with its notification.
    fn resolve_stuck_approvals(&mut self, now: DateTime<Utc>) -> u64 {
        let stuck_since = now - STUCK_EXECUTION;
        let mut resolved = Vec::new();
        for stored in self.approvals.values_mut() {
            let approval = &mut stored.approval;
            if approval.status == ApprovalStatus::Executing && approval.decided_at.is_some_and(|at| at <= stuck_since) {
                approval.status = ApprovalStatus::Unknown;
                approval.error_code = Some(OUTCOME_UNKNOWN_CODE.to_owned());
                approval.finished_at = Some(now);
                resolved.push(outcome_unknown_notification(approval, now));
            }
        }
        let count = resolved.len() as u64;
        for notification in resolved {
            self.add_notification(notification);
        }
        count
    }

    /// Stores a notification, dropping the user's oldest past [`NOTIFICATIONS_PER_USER`].
    pub(super) fn add_notification(&mut self, notification: crate::store::Notification) {
        let order = self.notification_order.entry(notification.user_id).or_default();
        order.push_back(notification.id);
        let dropped = over_cap(order, NOTIFICATIONS_PER_USER);
        for id in dropped {
            self.notifications.remove(&id);
        }
        self.notifications.insert(notification.id, notification);
    }

    /// Notes a stored receipt, dropping the user's oldest past [`RECEIPTS_PER_USER`].
    pub(super) fn note_receipt(&mut self, user_id: UserId, id: Uuid) {
        let order = self.receipt_order.entry(user_id).or_default();
        order.push_back(id);
        for id in over_cap(order, RECEIPTS_PER_USER) {
            self.receipts.remove(&id);
        }
    }
}

/// Pops what is beyond `cap` from the front (the oldest) of `order`.
fn over_cap(order: &mut VecDeque<Uuid>, cap: usize) -> Vec<Uuid> {
    let excess = order.len().saturating_sub(cap);
    order.drain(..excess).collect()
}
