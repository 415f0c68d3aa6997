//! Attacks on `/dexter/*` and on entitlements: forged Supabase session tokens, self-granted tiers and channels.
//!
//! The session attacks run against `connector serve` on a throwaway Postgres database,
//! trusting the Supabase Auth stand-in's project: its issuer, its legacy HS256 secret and
//! its JWKS (the committed test keys in `testkit/keys/`). The victim has a live ChatGPT
//! link and a swap waiting for approval; the attacker forges a session for the victim
//! and tries to approve the swap, revoke the link and read the victim's links. Each
//! attack must be refused with 401 and leave both as they were.
//!
//! The entitlement attack runs against a database set up as Supabase sets one up (roles
//! `anon` and `authenticated`, `auth.uid()` from `request.jwt.claims`, row level security
//! with the usual own-row policies, Supabase's blanket grants), migrated by the
//! connector: the user tries to raise their own tier and switch on ChatGPT as PostgREST
//! would run their PATCH, and must fail, while their own display name stays theirs.

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use serde_json::{Value, json};
use shared::ids::{ApprovalId, ClientId, GrantId, UserId};
use shared::keys::SigningKeys;
use shared::store::prelude::*;
use shared::store::{ApprovalStatus, Grant, OAuthClient, PgStore, Profile, RequestedApproval, SwapApproval};
use testkit::db::TestDatabase;
use testkit::serve::Served;
use testkit::standins::{FakeSupabaseAuth, TestSigningKey};
use uuid::Uuid;

const ANON_KEY: &str = "attack-suite-anon-key";
const LEGACY_SECRET: &str = "attack-suite-legacy-jwt-secret-0123456789";
const SOL: &str = "So11111111111111111111111111111111111111112";
const USDC: &str = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v";

/// `connector serve` on its own database, trusting the stand-in's Supabase project, and
/// a store on the same database to set up victims and check what changed.
struct Connector {
    served: Served,
    supabase: FakeSupabaseAuth,
    store: PgStore,
    signing_keys: SigningKeys,
    http: reqwest::Client,
    _db: TestDatabase,
}

/// A Dexter user with a live ChatGPT link and a swap waiting for their approval.
struct Victim {
    user_id: UserId,
    client_id: ClientId,
    grant_id: GrantId,
    approval_id: ApprovalId,
}

async fn connector(settings: &[(&str, &str)]) -> Connector {
    connector_on(TestDatabase::create().await, settings).await
}

async fn connector_on(db: TestDatabase, settings: &[(&str, &str)]) -> Connector {
    let supabase = FakeSupabaseAuth::start(ANON_KEY).await;
    let jwk = SigningKeys::generate_jwk();
    let keys = json!([jwk]).to_string();
    let ours = [("SIGNING_KEYS", keys.as_str()), ("SUPABASE_JWT_SECRET", LEGACY_SECRET), ("RUST_LOG", "info")];
    let settings: Vec<(&str, &str)> = ours.into_iter().chain(settings.iter().copied()).collect();
    let served = testkit::serve::start_on_supabase(db.url(), &supabase, &settings).await;
    Connector {
        served,
        supabase,
        store: PgStore::connect(db.url(), false).expect("a pool on the connector's database"),
        signing_keys: SigningKeys::from_json(&keys).expect("the key just generated"),
        http: shared::tls::client(),
        _db: db,
    }
}

impl Connector {
    async fn victim(&self) -> Victim {
        let now = chrono::Utc::now();
        let user_id = UserId::random();
        let client_id = ClientId::from(format!("chatgpt-{}", &Uuid::new_v4().simple().to_string()[..8]));
        self.store
            .create_client(&OAuthClient {
                id: client_id.clone(),
                name: "ChatGPT".into(),
                secret_hash: shared::TokenHash::of("dxcs_unused"),
                previous_secret_hash: None,
                previous_secret_expires_at: None,
                redirect_uris: vec!["https://chatgpt.com/aip/g-1/oauth/callback".into()],
                scopes: vec!["mcp:invoke".into(), "wallet:read".into(), "profile".into()],
                created_at: now,
                public: false,
            })
            .await
            .expect("client");
        self.store
            .upsert_profile(&Profile {
                user_id,
                email: Some(format!("{user_id}@example.com")),
                tier: "pro".into(),
                channels: json!({"chatgpt": true}),
            })
            .await
            .expect("profile");
        let grant = Grant {
            id: GrantId::random(),
            user_id,
            client_id: client_id.clone(),
            scopes: vec!["mcp:invoke".into(), "wallet:read".into(), "profile".into()],
            created_at: now,
            last_used_at: None,
            revoked_at: None,
        };
        self.store.create_grant(&grant).await.expect("grant");
        let approval = match self
            .store
            .create_or_get_approval(
                &SwapApproval {
                    id: ApprovalId::random(),
                    user_id,
                    client_id: client_id.clone(),
                    grant_id: grant.id,
                    idempotency_key: Uuid::new_v4().to_string(),
                    request: json!({"input_mint": SOL, "output_mint": USDC, "mode": "ExactIn", "amount_ui": 0.5, "slippage_bps": 50}),
                    status: ApprovalStatus::PendingApproval,
                    result: None,
                    error_code: None,
                    receipt_id: None,
                    created_at: now,
                    expires_at: now + chrono::Duration::minutes(15),
                    decided_at: None,
                    finished_at: None,
                },
                now,
            )
            .await
            .expect("approval")
        {
            RequestedApproval::Created(approval) => approval,
            other => panic!("a fresh key must create an approval: {other:?}"),
        };
        Victim { user_id, client_id, grant_id: grant.id, approval_id: approval.id }
    }

    async fn call(&self, method: &str, path: &str, token: &str) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("a method");
        let response = self
            .http
            .request(method, format!("{}{path}", self.served.base_url))
            .bearer_auth(token)
            .send()
            .await
            .expect("connector serve answers");
        let status = response.status().as_u16();
        let text = response.text().await.expect("a body");
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    /// The attacker's try with `token` as the victim's session: approve the swap, revoke
    /// the link, list the links. Each must be a 401 JSON error, and nothing may change.
    async fn attack(&self, victim: &Victim, token: &str, what: &str) {
        let approve = format!("/dexter/approvals/{}/approve", victim.approval_id);
        let revoke = format!("/dexter/linked-accounts/{}", victim.grant_id);
        for (method, path) in
            [("POST", approve.as_str()), ("DELETE", revoke.as_str()), ("GET", "/dexter/linked-accounts")]
        {
            let (status, body) = self.call(method, path, token).await;
            assert_eq!(status, 401, "{what}: {method} {path} answered {body}");
            assert_eq!(body["error"], "invalid_token", "{what}: {body}");
            assert!(body["request_id"].is_string(), "{what}: {body}");
        }
        self.assert_untouched(victim, what).await;
    }

    async fn assert_untouched(&self, victim: &Victim, what: &str) {
        let approval = self.store.get_approval(victim.approval_id, victim.user_id).await.expect("read").expect("there");
        assert_eq!(approval.status, ApprovalStatus::PendingApproval, "{what}: the swap was decided");
        let grant = self.store.get_grant(victim.grant_id).await.expect("read").expect("there");
        assert_eq!(grant.revoked_at, None, "{what}: the link was revoked");
    }

    /// The victim's own session as Dexter's app holds it, signed with `key`.
    fn session(&self, key: &TestSigningKey, victim: &Victim) -> String {
        key.sign(&self.supabase.session_claims(victim.user_id))
    }

    /// An access token of the victim's ChatGPT link, as the token endpoint issues them.
    fn access_token(&self, victim: &Victim) -> String {
        let scopes = ["mcp:invoke".to_owned(), "wallet:read".to_owned(), "profile".to_owned()];
        shared::oauth::access_token::issue(
            &self.signing_keys,
            &self.served.base_url,
            victim.user_id,
            &victim.client_id,
            victim.grant_id,
            &scopes,
            chrono::Utc::now(),
        )
        .expect("an access token")
    }
}

fn hs256(secret: &[u8], kid: Option<&str>, claims: &Value) -> String {
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, &jsonwebtoken::EncodingKey::from_secret(secret)).expect("signs")
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// `claims` with `key` set to `value` (removed when `value` is null).
fn with(mut claims: Value, key: &str, value: Value) -> Value {
    match value {
        Value::Null => {
            claims.as_object_mut().expect("claims").remove(key);
        }
        value => claims[key] = value,
    }
    claims
}

#[tokio::test]
async fn forged_and_foreign_session_tokens_are_refused_and_change_nothing() {
    let connector = connector(&[]).await;
    let victim = connector.victim().await;
    let es256 = TestSigningKey::es256();
    let rs256 = TestSigningKey::rs256();
    let claims = connector.supabase.session_claims(victim.user_id);
    let legacy = |claims: &Value| hs256(LEGACY_SECRET.as_bytes(), None, claims);

    let other_project = json!("https://other-project.supabase.co/auth/v1");
    let expired = with(claims.clone(), "exp", json!(chrono::Utc::now().timestamp() - 120));
    let none = format!("{}.{}.", b64(br#"{"alg":"none","typ":"JWT"}"#), b64(claims.to_string().as_bytes()));
    let none_with_kid = format!(
        "{}.{}.",
        b64(json!({"alg": "none", "typ": "JWT", "kid": es256.kid}).to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    // Algorithm confusion: HS256 "signed" with the RSA key's public half, which anyone
    // can rebuild from the JWKS, naming that key's kid.
    let rsa_pem = TestSigningKey::rs256_public_pem();
    let rsa_jwk = rs256.public_jwk.to_string();
    let attacks: Vec<(&str, String)> = vec![
        ("another project's issuer (ES256)", es256.sign(&with(claims.clone(), "iss", other_project.clone()))),
        ("another project's issuer (HS256)", legacy(&with(claims.clone(), "iss", other_project))),
        ("no issuer", es256.sign(&with(claims.clone(), "iss", Value::Null))),
        ("role anon", es256.sign(&with(claims.clone(), "role", json!("anon")))),
        ("role service_role", legacy(&with(claims.clone(), "role", json!("service_role")))),
        ("no role", rs256.sign(&with(claims.clone(), "role", Value::Null))),
        ("an anonymous user", es256.sign(&with(claims.clone(), "is_anonymous", json!(true)))),
        ("audience anon", es256.sign(&with(claims.clone(), "aud", json!("anon")))),
        ("expired (ES256)", es256.sign(&expired)),
        ("expired (HS256)", legacy(&expired)),
        ("alg none", none),
        ("alg none naming a JWKS kid", none_with_kid),
        ("HS256 keyed with the RSA public key PEM", hs256(rsa_pem.as_bytes(), Some(&rs256.kid), &claims)),
        ("HS256 keyed with the RSA public JWK", hs256(rsa_jwk.as_bytes(), Some(&rs256.kid), &claims)),
        (
            "HS256 with a guessed secret",
            hs256(b"super-secret-jwt-token-with-at-least-32-characters-long", None, &claims),
        ),
        ("ES256 signed by a key not published", TestSigningKey::es256_next().sign_as(&es256.kid, &claims)),
        ("ES256 header naming the RSA key's kid", es256.sign_as(&rs256.kid, &claims)),
        ("an unknown kid", es256.sign_as("not-a-published-kid", &claims)),
    ];
    for (what, token) in &attacks {
        connector.attack(&victim, token, what).await;
    }
    let logs = connector.served.raw_logs();
    for (what, token) in &attacks {
        assert!(!logs.contains(token.as_str()), "{what}: the token was logged");
    }

    // The same project's genuine sessions work, so the refusals above were the checks.
    for (what, token) in [
        ("ES256", connector.session(&es256, &victim)),
        ("RS256", connector.session(&rs256, &victim)),
        ("legacy HS256", legacy(&claims)),
    ] {
        let (status, body) = connector.call("GET", "/dexter/linked-accounts", &token).await;
        assert_eq!(status, 200, "{what}: {body}");
        assert_eq!(body["linked_accounts"][0]["grant_id"], json!(victim.grant_id), "{what}: {body}");
    }
}

#[tokio::test]
async fn a_storm_of_unknown_kids_fetches_the_jwks_at_most_once_per_window() {
    let connector = connector(&[]).await;
    let victim = connector.victim().await;
    let es256 = TestSigningKey::es256();
    let claims = connector.supabase.session_claims(victim.user_id);
    assert_eq!(connector.supabase.jwks_fetches(), 0);

    // 60 tokens, each naming a kid nobody published, all at once, then 60 more.
    let started = Instant::now();
    for _ in 0..2 {
        let storm = (0..60).map(|_| {
            let token = es256.sign_as(&Uuid::new_v4().to_string(), &claims);
            let connector = &connector;
            async move { connector.call("GET", "/dexter/linked-accounts", &token).await.0 }
        });
        let statuses = join_all(storm).await;
        assert!(statuses.iter().all(|s| *s == 401), "{statuses:?}");
    }
    let fetches = connector.supabase.jwks_fetches();
    // One fetch per 30 s window at most (the storm takes well under one window).
    let windows = 1 + started.elapsed().as_secs() as usize / 30;
    assert!((1..=windows).contains(&fetches), "{fetches} JWKS fetches in {windows} window(s)");
    connector.assert_untouched(&victim, "the storm").await;

    // The one fetch cached the real keys: a genuine token needs no further fetch.
    let (status, body) = connector.call("GET", "/dexter/linked-accounts", &connector.session(&es256, &victim)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(connector.supabase.jwks_fetches(), fetches);
}

#[tokio::test]
async fn after_a_key_rotation_tokens_signed_with_the_new_key_verify() {
    let connector = connector(&[("SUPABASE_JWKS_MIN_REFETCH_SECONDS", "1")]).await;
    let victim = connector.victim().await;
    let (current, next) = (TestSigningKey::es256(), TestSigningKey::es256_next());
    let (status, body) = connector.call("GET", "/dexter/linked-accounts", &connector.session(&current, &victim)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(connector.supabase.jwks_fetches(), 1);

    // Rotation as Supabase does it: the new key signs, the previous one stays published.
    connector.supabase.publish_keys(&[&next, &current]);
    let rotated = connector.session(&next, &victim);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (status, body) = connector.call("GET", "/dexter/linked-accounts", &rotated).await;
        if status == 200 {
            assert_eq!(body["linked_accounts"][0]["grant_id"], json!(victim.grant_id), "{body}");
            break;
        }
        assert_eq!(status, 401, "{body}");
        assert!(Instant::now() < deadline, "the new key was never fetched");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (status, body) = connector.call("GET", "/dexter/linked-accounts", &connector.session(&current, &victim)).await;
    assert_eq!(status, 200, "the previous key still verifies its tokens: {body}");
}

#[tokio::test]
async fn with_aal2_required_an_aal1_session_reads_but_cannot_approve_a_swap() {
    let connector = connector(&[("DEXTER_APPROVAL_REQUIRES_AAL2", "true")]).await;
    let victim = connector.victim().await;
    let es256 = TestSigningKey::es256();
    let aal1 = connector.session(&es256, &victim);
    let legacy_aal1 = hs256(LEGACY_SECRET.as_bytes(), None, &connector.supabase.session_claims(victim.user_id));

    for path in ["/dexter/approvals", "/dexter/linked-accounts", "/dexter/receipts", "/dexter/notifications"] {
        let (status, body) = connector.call("GET", path, &aal1).await;
        assert_eq!(status, 200, "{path}: {body}");
    }
    let (_, pending) = connector.call("GET", "/dexter/approvals", &aal1).await;
    assert_eq!(pending["approvals"][0]["approval_id"], json!(victim.approval_id), "{pending}");

    // A stolen one-factor session (or a forged aal claim with no key) cannot approve.
    let approve = format!("/dexter/approvals/{}/approve", victim.approval_id);
    for (what, token) in [("ES256 aal1", &aal1), ("HS256 aal1", &legacy_aal1)] {
        let (status, body) = connector.call("POST", &approve, token).await;
        assert_eq!(status, 403, "{what}: {body}");
        assert_eq!(body["error"], "mfa_required", "{what}: {body}");
        assert!(body["request_id"].is_string());
        connector.assert_untouched(&victim, what).await;
    }
    let forged_aal2 =
        es256.sign_as("unknown", &with(connector.supabase.session_claims(victim.user_id), "aal", json!("aal2")));
    assert_eq!(connector.call("POST", &approve, &forged_aal2).await.0, 401);
    connector.assert_untouched(&victim, "forged aal2").await;

    // After the second factor, the user approves and the swap runs.
    let aal2 = es256.sign(&with(connector.supabase.session_claims(victim.user_id), "aal", json!("aal2")));
    let (status, body) = connector.call("POST", &approve, &aal2).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "executed", "{body}");
}

#[tokio::test]
async fn a_voice_handoff_token_is_not_an_access_token() {
    let connector =
        connector(&[("NEXT_PUBLIC_ENABLE_VOICE", "true"), ("VOICE_URL", "https://dexter.example/voice")]).await;
    let victim = connector.victim().await;
    let access_token = connector.access_token(&victim);
    let (status, _) = connector.call("GET", "/connector/chatgpt/get_profile", &access_token).await;
    assert_eq!(status, 200, "the link works");

    let answer = connector
        .http
        .post(format!("{}/connector/chatgpt/handoff_voice", connector.served.base_url))
        .bearer_auth(&access_token)
        .json(&json!({"context": "we were looking at SOL"}))
        .send()
        .await
        .expect("answers");
    assert_eq!(answer.status(), 200);
    let answer: Value = answer.json().await.expect("JSON");
    let url = reqwest::Url::parse(answer["url"].as_str().expect("a url")).expect("a URL");
    let handoff = url.query_pairs().find(|(k, _)| k == "handoff").expect("a handoff token").1.into_owned();

    // Both are signed by the same key; their types tell them apart.
    let typ = |token: &str| jsonwebtoken::decode_header(token).expect("a JWT").typ;
    assert_eq!(typ(&access_token).as_deref(), Some(shared::oauth::access_token::TYP));
    assert_eq!(typ(&handoff).as_deref(), Some(shared::actions::voice::HANDOFF_TYP));
    assert_eq!(
        jsonwebtoken::decode_header(&handoff).expect("a JWT").kid,
        jsonwebtoken::decode_header(&access_token).expect("a JWT").kid
    );

    // Whoever holds the link (it travels in a URL) cannot use it as the user's bearer token.
    for (method, path) in [
        ("GET", "/connector/chatgpt/get_profile"),
        ("GET", "/connector/chatgpt/get_portfolio"),
        ("POST", "/connector/chatgpt/handoff_voice"),
    ] {
        let (status, body) = connector.call(method, path, &handoff).await;
        assert_eq!(status, 401, "{path}: {body}");
        assert_eq!(body["error"], "invalid_token", "{path}: {body}");
    }
    // Nor as a Dexter session.
    let (status, _) = connector.call("GET", "/dexter/linked-accounts", &handoff).await;
    assert_eq!(status, 401);

    // The type alone decides: a token of the handoff type refused as a bearer token
    // even when it carries every claim of a live access token (as any other kind of
    // token the key signs one day might).
    let mut claims =
        shared::oauth::access_token::verify(&connector.signing_keys, &connector.served.base_url, &access_token, false)
            .expect("the link's access token");
    claims.jti = Uuid::new_v4();
    let retyped = connector.signing_keys.sign(shared::actions::voice::HANDOFF_TYP, &claims).expect("signs");
    let (status, body) = connector.call("GET", "/connector/chatgpt/get_profile", &retyped).await;
    assert_eq!(status, 401, "{body}");
    let untyped = connector.signing_keys.sign("JWT", &claims).expect("signs");
    assert_eq!(connector.call("GET", "/connector/chatgpt/get_profile", &untyped).await.0, 401);
    let typed = connector.signing_keys.sign(shared::oauth::access_token::TYP, &claims).expect("signs");
    assert_eq!(
        connector.call("GET", "/connector/chatgpt/get_profile", &typed).await.0,
        200,
        "the same claims, typed at+jwt"
    );
    connector.assert_untouched(&victim, "the handoff as a token").await;
}

// ---------------------------------------------------------------------------------------
// Entitlements

/// Dexter's Supabase project, as far as the database goes: Supabase's roles, `auth.uid()`,
/// its blanket grants, and a `profiles` table of Dexter's own (a display name) with row
/// level security and the usual own-row policies. Then the connector's migrations.
async fn supabase_like_database() -> TestDatabase {
    let db = TestDatabase::create().await;
    let client = db.connect().await;
    // Roles are the cluster's: create them once, whoever gets there first.
    for role in ["anon", "authenticated"] {
        client
            .batch_execute(&format!(
                "do $$ begin create role {role} nologin noinherit; \
                 exception when duplicate_object or unique_violation then null; end $$;"
            ))
            .await
            .expect("Supabase's role");
    }
    client
        .batch_execute(
            "create schema auth; \
             create function auth.uid() returns uuid language sql stable as $$ \
               select nullif(current_setting('request.jwt.claims', true)::jsonb ->> 'sub', '')::uuid $$; \
             grant usage on schema auth to anon, authenticated; \
             grant usage on schema public to anon, authenticated; \
             alter default privileges in schema public grant all on tables to anon, authenticated; \
             alter default privileges in schema public grant all on functions to anon, authenticated; \
             create table profiles (id uuid primary key, display_name text); \
             alter table profiles enable row level security; \
             create policy \"own row: read\" on profiles for select using (auth.uid() = id); \
             create policy \"own row: update\" on profiles for update using (auth.uid() = id); \
             create policy \"own row: insert\" on profiles for insert with check (auth.uid() = id);",
        )
        .await
        .expect("a Supabase-like project");
    let applied = shared::store::migrate::run(db.url(), false).await.expect("the connector's migrations");
    assert!(applied.iter().any(|m| m == "0007_entitlements"), "{applied:?}");
    client
        .batch_execute("grant all on all tables in schema public to anon, authenticated;")
        .await
        .expect("Supabase's grants");
    db
}

/// Runs `sql` as PostgREST runs a request: in a transaction, as `role`, with the user's
/// JWT claims. The rows it changed, or the error.
async fn as_supabase_user(
    client: &mut tokio_postgres::Client,
    role: &str,
    user: Option<UserId>,
    sql: &str,
) -> Result<u64, tokio_postgres::Error> {
    let tx = client.transaction().await.expect("a transaction");
    tx.batch_execute(&format!("set local role {role}")).await.expect("set role");
    let claims = match user {
        Some(user) => json!({"sub": user, "role": role, "aud": "authenticated"}),
        None => json!({"role": role}),
    };
    tx.execute("select set_config('request.jwt.claims', $1, true)", &[&claims.to_string()]).await.expect("claims");
    let changed = tx.execute(sql, &[]).await?;
    tx.commit().await?;
    Ok(changed)
}

#[tokio::test]
async fn a_user_cannot_raise_their_own_tier_or_switch_on_chatgpt() {
    let db = supabase_like_database().await;
    let mut client = db.connect().await;
    let db_url = db.url().to_owned();
    let connector = connector_on(db, &[]).await;
    let attacker = connector.victim().await;
    connector
        .store
        .upsert_profile(&Profile { user_id: attacker.user_id, email: None, tier: "free".into(), channels: json!({}) })
        .await
        .expect("a free profile, ChatGPT off");
    let me = attacker.user_id;
    let free_tools = connector.store.tier_tools("free").await.expect("free tools");

    // The policies are in force: the user's own column is theirs, other rows are not.
    let rename = format!("update profiles set display_name = 'Trader Joe' where id = '{me}'");
    assert_eq!(as_supabase_user(&mut client, "authenticated", Some(me), &rename).await.expect("allowed"), 1);
    let other = connector.victim().await;
    let rename_other = format!("update profiles set display_name = 'pwned' where id = '{}'", other.user_id);
    assert_eq!(as_supabase_user(&mut client, "authenticated", Some(me), &rename_other).await.expect("runs"), 0);

    let attacks = [
        format!("update profiles set tier = 'pro' where id = '{me}'"),
        format!("update profiles set channels = '{{\"chatgpt\": true}}' where id = '{me}'"),
        format!("update profiles set channels = jsonb_set(channels, '{{chatgpt}}', 'true') where id = '{me}'"),
        format!("update profiles set tier = 'pro', display_name = 'Trader Joe' where id = '{me}'"),
        // PostgREST's upsert (POST with Prefer: resolution=merge-duplicates).
        format!(
            "insert into profiles (id, tier, channels) values ('{me}', 'pro', '{{\"chatgpt\": true}}') \
             on conflict (id) do update set tier = excluded.tier, channels = excluded.channels"
        ),
        // An upsert whose insert looks harmless and whose update is not.
        format!("insert into profiles (id) values ('{me}') on conflict (id) do update set tier = 'pro'"),
        // The entitlements table itself (RLS on, no policies).
        "update connector_tier_tools set tools = tools || '{solana_swap_execute}' where tier = 'free'".to_owned(),
        "insert into connector_tier_tools (tier, tools) values ('mine', '{solana_swap_execute}')".to_owned(),
    ];
    for sql in &attacks {
        for role in ["authenticated", "anon"] {
            let user = (role == "authenticated").then_some(me);
            match as_supabase_user(&mut client, role, user, sql).await {
                Err(_) | Ok(0) => {}
                Ok(n) => panic!("{role} changed {n} row(s) with: {sql}"),
            }
        }
    }
    // A new user's own first row cannot arrive with entitlements either, but can without.
    let newcomer = UserId::random();
    let insert_pro =
        format!("insert into profiles (id, tier, channels) values ('{newcomer}', 'pro', '{{\"chatgpt\": true}}')");
    let refused = as_supabase_user(&mut client, "authenticated", Some(newcomer), &insert_pro).await;
    let code = refused.expect_err("an entitled insert").code().cloned();
    assert_eq!(code, Some(tokio_postgres::error::SqlState::INSUFFICIENT_PRIVILEGE));
    let insert_plain = format!("insert into profiles (id, display_name) values ('{newcomer}', 'New')");
    assert_eq!(
        as_supabase_user(&mut client, "authenticated", Some(newcomer), &insert_plain).await.expect("own row"),
        1
    );

    // Nothing changed: the connector still sees a free user with ChatGPT off.
    let row = client
        .query_one("select tier, channels, display_name from profiles where id = $1", &[&Uuid::from(me)])
        .await
        .expect("the row");
    assert_eq!(row.get::<_, String>("tier"), "free");
    assert_eq!(row.get::<_, Value>("channels"), json!({}));
    assert_eq!(row.get::<_, Option<String>>("display_name").as_deref(), Some("Trader Joe"));
    assert_eq!(connector.store.tier_tools("free").await.expect("free tools"), free_tools);
    assert!(connector.store.tier_tools("mine").await.expect("tools").is_empty());
    let token = connector.access_token(&attacker);
    let (status, body) = connector.call("GET", "/connector/chatgpt/get_profile", &token).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"], "channel_disabled", "{body}");

    // The operator path (the connector's own role, as `connector serve` and Dexter's
    // backend write) still sets entitlements.
    let operator = PgStore::connect(&db_url, false).expect("pool");
    operator
        .upsert_profile(&Profile { user_id: me, email: None, tier: "pro".into(), channels: json!({"chatgpt": true}) })
        .await
        .expect("the operator sets the tier");
    let (status, body) = connector.call("GET", "/connector/chatgpt/get_profile", &token).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["tier"], "pro", "{body}");
}
