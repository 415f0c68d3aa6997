-- Codes and tokens to RFC 9700 grade (issue 12).

-- A public client (RFC 6749 §2.1) holds no secret it can keep; /authorize requires PKCE
-- of it. Every client registered so far is confidential.
alter table connector_oauth_clients
    add column if not exists public boolean not null default false;

-- PKCE (RFC 7636): the S256 code challenge, bound to the request and then to its code.
-- A code with a challenge is redeemed only with its verifier; one without, only without.
alter table connector_authorization_requests
    add column if not exists code_challenge text;
alter table connector_authorization_codes
    add column if not exists code_challenge text;

-- A refresh token superseded without being used (a sibling issued by a retry within the
-- grace window, dropped when the client used another one) is kept as a tombstone:
-- presenting it later is a replay and revokes the grant, not an unknown token.
alter table connector_refresh_tokens
    add column if not exists superseded_at timestamptz;
