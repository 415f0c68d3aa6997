-- OAuth 2.0 authorization server state (RFC 6749): clients, in-flight authorization
-- requests, grants, authorization codes and refresh tokens. Codes and tokens are kept
-- only as SHA-256 hex, never in the clear.

-- Deleted clients keep their row (deleted_at) so an id is never reused and grants keep
-- a valid foreign key.
create table if not exists connector_oauth_clients (
    id text primary key,
    name text not null,
    secret_hash text not null,
    previous_secret_hash text,
    previous_secret_expires_at timestamptz,
    redirect_uris text[] not null,
    scopes text[] not null,
    created_at timestamptz not null default now(),
    deleted_at timestamptz
);

create table if not exists connector_authorization_requests (
    id uuid primary key,
    client_id text not null references connector_oauth_clients (id),
    redirect_uri text not null,
    scopes text[] not null,
    state text not null,
    csrf_hash text not null,
    user_id uuid,
    login_email text,
    login_attempts integer not null default 0,
    expires_at timestamptz not null,
    created_at timestamptz not null default now()
);
create index if not exists connector_authorization_requests_client_idx
    on connector_authorization_requests (client_id);
create index if not exists connector_authorization_requests_expires_idx
    on connector_authorization_requests (expires_at);

-- A grant is one user's authorization of one client. revoked_at is the single switch
-- that kills the grant's access and refresh tokens.
create table if not exists connector_grants (
    id uuid primary key,
    user_id uuid not null,
    client_id text not null references connector_oauth_clients (id),
    scopes text[] not null,
    created_at timestamptz not null,
    last_used_at timestamptz,
    revoked_at timestamptz
);
create index if not exists connector_grants_user_idx
    on connector_grants (user_id, created_at desc);
create index if not exists connector_grants_live_client_idx
    on connector_grants (client_id) where revoked_at is null;

-- used_at makes a code single use; grant_id lets a replayed code revoke what it produced.
create table if not exists connector_authorization_codes (
    code_hash text primary key,
    client_id text not null references connector_oauth_clients (id),
    user_id uuid not null,
    redirect_uri text not null,
    scopes text[] not null,
    expires_at timestamptz not null,
    used_at timestamptz,
    grant_id uuid references connector_grants (id),
    created_at timestamptz not null default now()
);
create index if not exists connector_authorization_codes_client_idx
    on connector_authorization_codes (client_id);

-- A token is current while rotated_at is null; once used it points at its successor
-- (replaced_by), so a replay can be told apart from a retry.
create table if not exists connector_refresh_tokens (
    token_hash text primary key,
    grant_id uuid not null references connector_grants (id) on delete cascade,
    expires_at timestamptz not null,
    rotated_at timestamptz,
    replaced_by text,
    created_at timestamptz not null default now()
);
create index if not exists connector_refresh_tokens_grant_idx
    on connector_refresh_tokens (grant_id);

-- Not for Supabase's REST API (see 0001).
alter table connector_oauth_clients enable row level security;
alter table connector_authorization_requests enable row level security;
alter table connector_grants enable row level security;
alter table connector_authorization_codes enable row level security;
alter table connector_refresh_tokens enable row level security;
