-- The sweep (issue 13, shared/src/store/sweep.rs): nothing is left behind.
--
-- An approval left `executing` by a crashed execution becomes `unknown`: whether the swap
-- ran is not known, it is never run again, and the user is told to check their wallet.
alter table connector_swap_approvals
    drop constraint if exists connector_swap_approvals_status_check;
alter table connector_swap_approvals
    add constraint connector_swap_approvals_status_check check (status in (
        'pending_approval', 'executing', 'executed', 'failed', 'rejected', 'expired', 'unknown'
    ));

-- What the sweep looks for, without scanning whole tables. (Authorization requests and
-- rate-limit windows are already indexed by expiry and window start.)
create index if not exists connector_authorization_codes_expires_idx
    on connector_authorization_codes (expires_at);
create index if not exists connector_refresh_tokens_expires_idx
    on connector_refresh_tokens (expires_at);
create index if not exists connector_voice_handoffs_expires_idx
    on connector_voice_handoffs (expires_at);
create index if not exists connector_voice_handoffs_consumed_idx
    on connector_voice_handoffs (consumed_at) where consumed_at is not null;
create index if not exists connector_notifications_created_idx
    on connector_notifications (created_at);
create index if not exists connector_notifications_read_idx
    on connector_notifications (read_at) where read_at is not null;
create index if not exists connector_swap_approvals_executing_idx
    on connector_swap_approvals (decided_at) where status = 'executing';
