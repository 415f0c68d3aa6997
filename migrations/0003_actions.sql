-- What actions leave behind: receipts, swap approvals, notifications for Dexter's bell,
-- and voice handoff tickets.

create table if not exists connector_receipts (
    id uuid primary key,
    user_id uuid not null,
    client_id text not null,
    action text not null,
    mcp_tool text,
    args_digest text not null,
    status text not null check (status <> ''),
    error_code text,
    upstream_latency_ms bigint,
    request_id text not null,
    approval_id uuid,
    created_at timestamptz not null
);
-- The receipts feed is a keyset walk over (created_at, id), newest first.
create index if not exists connector_receipts_feed_idx
    on connector_receipts (user_id, created_at desc, id desc);

-- holds_key: the one approval per (user, idempotency key) that answers retries. An
-- expired approval gives up the key so the same key can ask again.
create table if not exists connector_swap_approvals (
    id uuid primary key,
    user_id uuid not null,
    client_id text not null,
    grant_id uuid not null,
    idempotency_key text not null,
    holds_key boolean not null default true,
    request jsonb not null,
    status text not null check (status in (
        'pending_approval', 'executing', 'executed', 'failed', 'rejected', 'expired'
    )),
    result jsonb,
    error_code text,
    receipt_id uuid,
    created_at timestamptz not null,
    expires_at timestamptz not null,
    decided_at timestamptz,
    finished_at timestamptz
);
create unique index if not exists connector_swap_approvals_key_idx
    on connector_swap_approvals (user_id, idempotency_key) where holds_key;
create index if not exists connector_swap_approvals_pending_idx
    on connector_swap_approvals (user_id, created_at desc) where status = 'pending_approval';

create table if not exists connector_notifications (
    id uuid primary key,
    user_id uuid not null,
    kind text not null,
    title text not null,
    body jsonb not null default '{}'::jsonb,
    created_at timestamptz not null,
    read_at timestamptz
);
create index if not exists connector_notifications_user_idx
    on connector_notifications (user_id, created_at desc);

create table if not exists connector_voice_handoffs (
    id uuid primary key,
    user_id uuid not null,
    grant_id uuid not null,
    context jsonb not null,
    expires_at timestamptz not null,
    created_at timestamptz not null,
    consumed_at timestamptz
);

-- Not for Supabase's REST API (see 0001).
alter table connector_receipts enable row level security;
alter table connector_swap_approvals enable row level security;
alter table connector_notifications enable row level security;
alter table connector_voice_handoffs enable row level security;
