-- OAuth for MCP clients (issue 14): clients that registered themselves (RFC 7591) or
-- that are named by a client ID metadata document URL. Each still has its row in
-- connector_oauth_clients (so requests, codes and grants keep their foreign key); this
-- table holds how it authenticates and, for registrations, whether it was ever used.

create table if not exists connector_client_registrations (
    client_id text primary key references connector_oauth_clients (id),
    -- 'dynamic' (RFC 7591) or 'document' (a client ID metadata document).
    kind text not null check (kind in ('dynamic', 'document')),
    -- 'none', 'client_secret_basic', 'client_secret_post' or 'private_key_jwt'.
    token_endpoint_auth_method text not null,
    jwks_uri text,
    -- A JWKS given inline at registration (JSON text).
    jwks text,
    registered_at timestamptz not null,
    -- First successful token request; a dynamic registration never used expires.
    last_used_at timestamptz,
    -- A metadata document is fetched again after this (its Cache-Control, bounded).
    document_expires_at timestamptz
);
alter table connector_client_registrations enable row level security;

-- RFC 7523 §3: a client assertion's jti is spent once; kept until the assertion expires.
create table if not exists connector_client_assertions (
    client_id text not null,
    jti text not null,
    expires_at timestamptz not null,
    primary key (client_id, jti)
);
create index if not exists connector_client_assertions_expires_idx on connector_client_assertions (expires_at);
alter table connector_client_assertions enable row level security;
