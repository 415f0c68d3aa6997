-- Rate limits every function instance shares (issue 12, "Sign-in"): one row per bucket,
-- key and fixed window, bumped by one atomic upsert before the work it guards. Keys are
-- SHA-256 hex of the bucket and the limited value (an email address, a client address, an
-- authorization request id), never the value itself. Rows are purged once their window is
-- long over.

create table if not exists connector_rate_limits (
    bucket text not null,
    key_hash text not null,
    window_start timestamptz not null,
    count bigint not null,
    primary key (bucket, key_hash, window_start)
);
create index if not exists connector_rate_limits_window_idx
    on connector_rate_limits (window_start);

-- Not for Supabase's REST API (see 0001).
alter table connector_rate_limits enable row level security;
