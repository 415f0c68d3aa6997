//! Nothing left behind (issue 13): the sweep, run the three ways operators get it — the
//! `connector sweep` command, the `sweep` Lambda function on its EventBridge schedule, and
//! concurrently — against databases seeded with rows of every kind, old and live; a swap
//! left `executing` by a crash, resolved once and never run again; and the in-memory
//! store's caps.

use std::collections::BTreeSet;
use std::sync::Arc;

use sandbox_mcp::SandboxOptions;
use serde_json::{Value, json};
use shared::UserId;
use shared::ids::ApprovalId;
use shared::keys::SigningKeys;
use shared::store::conformance::a_receipt;
use shared::store::memory::{MemoryStore, NOTIFICATIONS_PER_USER, RECEIPTS_PER_USER};
use shared::store::prelude::*;
use shared::store::sweep::OUTCOME_UNKNOWN_KIND;
use shared::store::{Notification, PgStore, SweepReport};
use testkit::app::{Options, TestApp, spawn_app};
use testkit::db::TestDatabase;
use testkit::lambda::LambdaFunction;
use testkit::{binaries, lambda_env, serve};
use uuid::Uuid;

/// A migrated test database.
async fn migrated() -> TestDatabase {
    let db = TestDatabase::create().await;
    shared::store::migrate::run(db.url(), false).await.expect("migrations apply");
    db
}

/// Rows of every kind the sweep looks at, each either past its horizon (named `gone-*`
/// where it has a name) or not (`kept-*`), relative to the database's clock.
const SEED: &str = "
insert into connector_oauth_clients (id, name, secret_hash, redirect_uris, scopes)
values ('sweep-client', 'Sweep', 'x', array['https://chatgpt.com/cb'], array['profile']);

insert into connector_authorization_requests
    (id, client_id, redirect_uri, scopes, state, csrf_hash, login_email, expires_at, created_at)
values
    (gen_random_uuid(), 'sweep-client', 'https://chatgpt.com/cb', '{}', 's', 'h', 'gone@example.com',
     now() - interval '1 hour', now() - interval '75 minutes'),
    (gen_random_uuid(), 'sweep-client', 'https://chatgpt.com/cb', '{}', 's', 'h', 'kept@example.com',
     now() + interval '10 minutes', now());

insert into connector_grants (id, user_id, client_id, scopes, created_at, revoked_at)
values
    ('00000000-0000-4000-8000-000000000001', '00000000-0000-4000-8000-0000000000aa', 'sweep-client', '{}',
     now() - interval '90 days', null),
    ('00000000-0000-4000-8000-000000000002', '00000000-0000-4000-8000-0000000000aa', 'sweep-client', '{}',
     now() - interval '90 days', now() - interval '70 days');

insert into connector_authorization_codes
    (code_hash, client_id, user_id, redirect_uri, scopes, expires_at, used_at, grant_id)
values
    ('gone-unused-expired', 'sweep-client', '00000000-0000-4000-8000-0000000000aa', 'https://chatgpt.com/cb', '{}',
     now() - interval '1 minute', null, null),
    ('kept-spent-2-days-ago', 'sweep-client', '00000000-0000-4000-8000-0000000000aa', 'https://chatgpt.com/cb', '{}',
     now() - interval '2 days', now() - interval '2 days 5 minutes', '00000000-0000-4000-8000-000000000001'),
    ('gone-spent-8-days-ago', 'sweep-client', '00000000-0000-4000-8000-0000000000aa', 'https://chatgpt.com/cb', '{}',
     now() - interval '8 days', now() - interval '8 days 5 minutes', '00000000-0000-4000-8000-000000000001'),
    ('kept-live', 'sweep-client', '00000000-0000-4000-8000-0000000000aa', 'https://chatgpt.com/cb', '{}',
     now() + interval '5 minutes', null, null);

insert into connector_refresh_tokens (token_hash, grant_id, expires_at, rotated_at, replaced_by, superseded_at)
values
    ('gone-rotated-expired', '00000000-0000-4000-8000-000000000001', now() - interval '1 day',
     now() - interval '30 days', 'kept-current', null),
    ('kept-rotated-unexpired', '00000000-0000-4000-8000-000000000001', now() + interval '30 days',
     now() - interval '1 day', 'kept-current', null),
    ('kept-superseded-unexpired', '00000000-0000-4000-8000-000000000001', now() + interval '30 days',
     null, null, now() - interval '1 day'),
    ('kept-current', '00000000-0000-4000-8000-000000000001', now() + interval '59 days', null, null, null),
    ('gone-revoked-expired', '00000000-0000-4000-8000-000000000002', now() - interval '10 days', null, null, null),
    ('kept-revoked-unexpired', '00000000-0000-4000-8000-000000000002', now() + interval '10 days', null, null, null);

insert into connector_voice_handoffs (id, user_id, grant_id, context, expires_at, created_at, consumed_at)
values
    (gen_random_uuid(), '00000000-0000-4000-8000-0000000000aa', '00000000-0000-4000-8000-000000000001', '{}',
     now() + interval '5 minutes', now() - interval '1 minute', now()),
    (gen_random_uuid(), '00000000-0000-4000-8000-0000000000aa', '00000000-0000-4000-8000-000000000001', '{}',
     now() - interval '1 minute', now() - interval '6 minutes', null),
    ('00000000-0000-4000-8000-00000000000b', '00000000-0000-4000-8000-0000000000aa',
     '00000000-0000-4000-8000-000000000001', '{}', now() + interval '5 minutes', now(), null);

insert into connector_notifications (id, user_id, kind, title, created_at, read_at)
values
    (gen_random_uuid(), '00000000-0000-4000-8000-0000000000aa', 'k', 'gone-unread-31-days',
     now() - interval '31 days', null),
    (gen_random_uuid(), '00000000-0000-4000-8000-0000000000aa', 'k', 'gone-read-8-days-ago',
     now() - interval '10 days', now() - interval '8 days'),
    (gen_random_uuid(), '00000000-0000-4000-8000-0000000000aa', 'k', 'kept-read-an-hour-ago',
     now() - interval '1 day', now() - interval '1 hour'),
    (gen_random_uuid(), '00000000-0000-4000-8000-0000000000aa', 'k', 'kept-new', now(), null);

insert into connector_rate_limits (bucket, key_hash, window_start, count)
values ('b', 'gone', now() - interval '2 days', 3), ('b', 'kept', now() - interval '1 hour', 3);

insert into connector_swap_approvals
    (id, user_id, client_id, grant_id, idempotency_key, request, status, created_at, expires_at, decided_at)
values
    ('00000000-0000-4000-8000-0000000000c1', '00000000-0000-4000-8000-0000000000bb', 'sweep-client',
     '00000000-0000-4000-8000-000000000001', 'stuck', '{}', 'executing',
     now() - interval '20 minutes', now() - interval '10 minutes', now() - interval '11 minutes'),
    ('00000000-0000-4000-8000-0000000000c2', '00000000-0000-4000-8000-0000000000bb', 'sweep-client',
     '00000000-0000-4000-8000-000000000001', 'running', '{}', 'executing',
     now() - interval '2 minutes', now() + interval '8 minutes', now() - interval '1 minute'),
    ('00000000-0000-4000-8000-0000000000c3', '00000000-0000-4000-8000-0000000000bb', 'sweep-client',
     '00000000-0000-4000-8000-000000000001', 'done', '{}', 'executed',
     now() - interval '400 days', now() - interval '399 days', now() - interval '400 days');

-- Self-registered clients (RFC 7591): unused past 24 hours, unused and younger, used,
-- and unused with a (revoked) grant; and two spent client assertion jtis.
insert into connector_oauth_clients (id, name, secret_hash, redirect_uris, scopes, created_at)
values
    ('gone-unused-registration', 'Dead', 'x', array['http://127.0.0.1/cb'], array['profile'], now() - interval '25 hours'),
    ('kept-young-registration', 'Young', 'x', array['http://127.0.0.1/cb'], array['profile'], now() - interval '23 hours'),
    ('kept-used-registration', 'Used', 'x', array['http://127.0.0.1/cb'], array['profile'], now() - interval '30 days'),
    ('kept-granted-registration', 'Granted', 'x', array['http://127.0.0.1/cb'], array['profile'],
     now() - interval '30 days');
insert into connector_client_registrations (client_id, kind, token_endpoint_auth_method, registered_at, last_used_at)
values
    ('gone-unused-registration', 'dynamic', 'none', now() - interval '25 hours', null),
    ('kept-young-registration', 'dynamic', 'none', now() - interval '23 hours', null),
    ('kept-used-registration', 'dynamic', 'none', now() - interval '30 days', now() - interval '29 days'),
    ('kept-granted-registration', 'dynamic', 'none', now() - interval '30 days', null);
insert into connector_grants (id, user_id, client_id, scopes, created_at, revoked_at)
values ('00000000-0000-4000-8000-000000000003', '00000000-0000-4000-8000-0000000000aa', 'kept-granted-registration',
        '{}', now() - interval '29 days', now() - interval '28 days');
insert into connector_client_assertions (client_id, jti, expires_at)
values ('kept-used-registration', 'gone-expired', now() - interval '1 minute'),
       ('kept-used-registration', 'kept-live', now() + interval '4 minutes');

insert into connector_receipts
    (id, user_id, client_id, action, args_digest, status, request_id, created_at)
values
    (gen_random_uuid(), '00000000-0000-4000-8000-0000000000aa', 'sweep-client', 'get_portfolio', 'd', 'ok', 'r',
     now() - interval '400 days');
";

/// What one sweep of [`SEED`] removes and resolves.
const SEED_SWEPT: SweepReport = SweepReport {
    authorization_requests: 1,
    authorization_codes: 2,
    refresh_tokens: 2,
    voice_handoffs: 2,
    notifications: 2,
    rate_limit_windows: 1,
    stuck_approvals: 1,
    client_registrations: 1,
    client_assertions: 1,
};

async fn seed(db: &TestDatabase) {
    db.connect().await.batch_execute(SEED).await.expect("seed");
}

/// One text column of a table, as a set.
async fn column(db: &TestDatabase, sql: &str) -> BTreeSet<String> {
    let rows = db.connect().await.query(sql, &[]).await.expect(sql);
    rows.iter().map(|row| row.get::<_, String>(0)).collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|item| item.to_string()).collect()
}

/// What is left of [`SEED`] after a sweep: exactly the `kept-*` rows, the audit trail,
/// and the stuck approval resolved with one notification.
async fn assert_swept(db: &TestDatabase) {
    assert_eq!(
        column(db, "select login_email from connector_authorization_requests").await,
        set(&["kept@example.com"]),
        "the expired request and its email are gone"
    );
    assert_eq!(
        column(db, "select code_hash from connector_authorization_codes").await,
        set(&["kept-live", "kept-spent-2-days-ago"])
    );
    assert_eq!(
        column(db, "select token_hash from connector_refresh_tokens").await,
        set(&["kept-current", "kept-revoked-unexpired", "kept-rotated-unexpired", "kept-superseded-unexpired"])
    );
    assert_eq!(
        column(db, "select id::text from connector_voice_handoffs").await,
        set(&["00000000-0000-4000-8000-00000000000b"])
    );
    assert_eq!(
        column(db, "select title from connector_notifications where kind = 'k'").await,
        set(&["kept-new", "kept-read-an-hour-ago"])
    );
    assert_eq!(column(db, "select key_hash from connector_rate_limits").await, set(&["kept"]));
    assert_eq!(
        column(db, "select idempotency_key || ':' || status from connector_swap_approvals").await,
        set(&["done:executed", "running:executing", "stuck:unknown"])
    );
    assert_eq!(
        column(
            db,
            "select body->>'approval_id' from connector_notifications \
             where kind = 'swap_outcome_unknown' and user_id = '00000000-0000-4000-8000-0000000000bb'"
        )
        .await,
        set(&["00000000-0000-4000-8000-0000000000c1"]),
        "one notification, for the stuck approval"
    );
    assert_eq!(column(db, "select action from connector_receipts").await, set(&["get_portfolio"]), "receipts stay");
    assert_eq!(
        column(db, "select id from connector_oauth_clients").await,
        set(&["kept-granted-registration", "kept-used-registration", "kept-young-registration", "sweep-client"]),
        "the unused registration is gone, row and all"
    );
    assert_eq!(
        column(db, "select client_id from connector_client_registrations").await,
        set(&["kept-granted-registration", "kept-used-registration", "kept-young-registration"])
    );
    assert_eq!(column(db, "select jti from connector_client_assertions").await, set(&["kept-live"]));
}

/// `connector sweep` against `db`: its exit status and stdout.
async fn connector_sweep(db: &TestDatabase, json: bool) -> (bool, String) {
    let mut command = tokio::process::Command::new(binaries::path("connector"));
    command.arg("sweep").env_clear().env("DATABASE_URL", db.url()).env("PATH", std::env::var("PATH").unwrap());
    if json {
        command.arg("--json");
    }
    let output = command.output().await.expect("connector runs");
    let stdout = String::from_utf8(output.stdout).expect("utf-8");
    assert!(output.status.success(), "connector sweep failed: {stdout}{}", String::from_utf8_lossy(&output.stderr));
    (output.status.success(), stdout)
}

async fn connector_sweep_json(db: &TestDatabase) -> SweepReport {
    let (_, stdout) = connector_sweep(db, true).await;
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("not a sweep report ({e}): {stdout}"))
}

#[tokio::test]
async fn connector_sweep_removes_each_kind_past_its_horizon_and_keeps_the_rest() {
    let db = migrated().await;
    seed(&db).await;

    assert_eq!(connector_sweep_json(&db).await, SEED_SWEPT);
    assert_swept(&db).await;

    // Again: nothing more to do, and what is left is the same.
    let (_, text) = connector_sweep(&db, false).await;
    assert!(text.contains("expired authorization requests  0"), "{text}");
    assert!(text.contains("stuck swaps resolved as unknown 0"), "{text}");
    assert!(text.contains("unused client registrations     0"), "{text}");
    assert_swept(&db).await;
}

#[tokio::test]
async fn the_sweep_function_sweeps_on_each_scheduled_invocation() {
    let db = migrated().await;
    seed(&db).await;
    let keys = json!([SigningKeys::generate_jwk()]).to_string();
    let mut function = LambdaFunction::start(&binaries::path("sweep"), &lambda_env(db.url(), &keys)).await;

    // What EventBridge sends for `rate(1 hour)`.
    let event = json!({
        "version": "0",
        "id": Uuid::new_v4(),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/connector-SweepFunctionSchedule"],
        "detail": {},
    });
    // Anything but the schedule's event is refused, and sweeps nothing.
    let test_event = json!({ "source": "aws.events", "detail-type": "Not Scheduled", "detail": {} });
    let refused = function.try_invoke(test_event).await.expect_err("only a Scheduled Event sweeps");
    assert!(refused.to_string().contains("not a Scheduled Event"), "{refused:#}");
    assert_eq!(column(&db, "select key_hash from connector_rate_limits").await, set(&["gone", "kept"]));

    let first: SweepReport = serde_json::from_value(function.invoke(event.clone()).await).expect("a sweep report");
    assert_eq!(first, SEED_SWEPT);
    assert_swept(&db).await;
    let second: SweepReport = serde_json::from_value(function.invoke(event).await).expect("a sweep report");
    assert_eq!(second, SweepReport::default(), "the next hour finds nothing left");
    assert_swept(&db).await;
}

#[tokio::test]
async fn concurrent_sweeps_split_a_large_backlog_and_remove_each_row_once() {
    let db = migrated().await;
    seed(&db).await;
    // More than one batch of each (shared::store::sweep::BATCH is 5000).
    let backlog = 12_001;
    db.connect()
        .await
        .batch_execute(&format!(
            "insert into connector_rate_limits (bucket, key_hash, window_start, count) \
             select 'backlog', 'k' || n, now() - interval '3 days', 1 from generate_series(1, {backlog}) n; \
             insert into connector_notifications (id, user_id, kind, title, created_at) \
             select gen_random_uuid(), gen_random_uuid(), 'k', 'backlog', now() - interval '40 days' \
             from generate_series(1, {backlog}) n;"
        ))
        .await
        .expect("backlog");

    let (a, b, c) = tokio::join!(connector_sweep_json(&db), connector_sweep_json(&db), connector_sweep_json(&db));
    let sum = |field: fn(&SweepReport) -> u64| field(&a) + field(&b) + field(&c);
    assert_eq!(sum(|r| r.rate_limit_windows), backlog + 1);
    assert_eq!(sum(|r| r.notifications), backlog + 2);
    assert_eq!(sum(|r| r.stuck_approvals), 1, "one sweep resolved the stuck approval");
    assert_eq!(sum(|r| r.authorization_requests), 1);
    assert_eq!(sum(|r| r.authorization_codes), 2);
    assert_eq!(sum(|r| r.refresh_tokens), 2);
    assert_eq!(sum(|r| r.voice_handoffs), 2);
    assert_eq!(sum(|r| r.client_registrations), 1);
    assert_eq!(sum(|r| r.client_assertions), 1);
    assert_swept(&db).await;
}

const MCP_SECRET: &str = "sandbox-mcp-secret-0123456789abcdef-xyz";

async fn call(app: &TestApp, method: &str, path: &str, token: &str) -> (u16, Value) {
    let http = shared::tls::client();
    let url = format!("{}{path}", app.base_url);
    let request = match method {
        "GET" => http.get(url),
        _ => http.post(url).json(&json!({})),
    };
    let response = request.bearer_auth(token).send().await.expect("the connector answers");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_swap_left_executing_by_a_crash_is_resolved_once_notified_and_never_run_again() {
    let db = migrated().await;
    let store: Arc<dyn Store> = Arc::new(PgStore::connect(db.url(), false).expect("pool"));
    let sandbox =
        sandbox_mcp::spawn(secrecy::SecretString::from(MCP_SECRET), SandboxOptions::default()).await.expect("sandbox");
    let options = Options { mcp: Some((sandbox.url.clone(), MCP_SECRET.into())), ..Options::default() };
    let app = spawn_app(store.clone(), options).await;
    let (user_id, _, token) = app.linked_user("pro", true, &["mcp:invoke", "wallet:read", "profile"]).await;
    let swap = json!({
        "input_mint": "So11111111111111111111111111111111111111112",
        "output_mint": "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v",
        "mode": "ExactIn", "amount_ui": 0.5, "slippage_bps": 50,
    });
    let http = shared::tls::client();
    let asked = http
        .post(format!("{}/connector/chatgpt/swap_execute", app.base_url))
        .bearer_auth(&token)
        .json(&swap)
        .send()
        .await
        .expect("answers");
    assert_eq!(asked.status().as_u16(), 202);
    let asked: Value = asked.json().await.expect("json");
    let approval_id = asked["approval_id"].as_str().expect("an approval id").to_owned();

    // The user approved, the execution claimed it, and the process died before the
    // outcome was written: what a crash mid-swap leaves.
    db.connect()
        .await
        .execute(
            "update connector_swap_approvals set status = 'executing', decided_at = now() - interval '11 minutes' \
             where id = $1::text::uuid",
            &[&approval_id],
        )
        .await
        .expect("the crash");

    // Two operators' sweeps at once: one resolves it.
    let (a, b) = tokio::join!(connector_sweep_json(&db), connector_sweep_json(&db));
    assert_eq!(a.stuck_approvals + b.stuck_approvals, 1, "{a:?} {b:?}");

    // Approving again (a retry, double clicks) runs nothing.
    let session = app.dexter_session(user_id);
    let approve = format!("/dexter/approvals/{approval_id}/approve");
    let retries = futures_util::future::join_all((0..4).map(|_| call(&app, "POST", &approve, &session))).await;
    for (status, body) in &retries {
        assert_ne!(body["status"], "executed", "{status} {body}");
        assert_ne!(body["status"], "executing", "{status} {body}");
    }
    assert_eq!(sandbox.calls("solana_swap_execute"), 0, "the swap was never run a second time");

    // Every view says what is known: nothing.
    let path = format!("/connector/chatgpt/get_swap_status?approval_id={approval_id}");
    let (status, view) = call(&app, "GET", &path, &token).await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["status"], "unknown", "{view}");
    assert_eq!(view["error_code"], "outcome_unknown", "{view}");
    let (_, pending) = call(&app, "GET", "/dexter/approvals", &session).await;
    assert!(
        pending["approvals"].as_array().expect("approvals").iter().all(|a| a["approval_id"] != approval_id.as_str()),
        "{pending}"
    );
    let unknown = |bell: &Value| -> Vec<Value> {
        bell["notifications"]
            .as_array()
            .expect("notifications")
            .iter()
            .filter(|n| n["kind"] == OUTCOME_UNKNOWN_KIND)
            .cloned()
            .collect()
    };
    let (_, bell) = call(&app, "GET", "/dexter/notifications", &session).await;
    let told = unknown(&bell);
    assert_eq!(told.len(), 1, "{bell}");
    assert!(told[0].to_string().contains(&approval_id), "{}", told[0]);
    assert!(told[0].to_string().contains("check your wallet"), "{}", told[0]);

    // Later sweeps leave it as it is.
    assert_eq!(connector_sweep_json(&db).await.stuck_approvals, 0);
    let (_, bell) = call(&app, "GET", "/dexter/notifications", &session).await;
    assert_eq!(unknown(&bell).len(), 1, "{bell}");
    let approval = store.get_approval(approval_id.parse::<ApprovalId>().expect("id"), user_id).await.expect("get");
    assert_eq!(approval.expect("approval").status.as_str(), "unknown");
    assert_eq!(sandbox.calls("solana_swap_execute"), 0);
}

#[tokio::test]
async fn the_memory_store_caps_notifications_and_receipts_per_user() {
    let store = MemoryStore::new();
    let (user, other) = (UserId::random(), UserId::random());
    let start = chrono::Utc::now() - chrono::Duration::days(1);
    let extra = 25;

    let notification = |user_id, i: usize| Notification {
        id: Uuid::new_v4(),
        user_id,
        kind: "k".into(),
        title: format!("n{i}"),
        body: json!({}),
        created_at: start + chrono::Duration::seconds(i as i64),
        read_at: None,
    };
    for i in 0..NOTIFICATIONS_PER_USER + extra {
        store.insert_notification(&notification(user, i)).await.expect("insert");
    }
    store.insert_notification(&notification(other, 0)).await.expect("insert");
    let kept = store.list_notifications(user, u32::MAX).await.expect("list");
    assert_eq!(kept.len(), NOTIFICATIONS_PER_USER);
    assert_eq!(kept.last().expect("oldest kept").title, format!("n{extra}"), "the oldest went first");
    assert_eq!(kept[0].title, format!("n{}", NOTIFICATIONS_PER_USER + extra - 1));
    assert_eq!(store.list_notifications(other, u32::MAX).await.expect("list").len(), 1, "per user");

    let mut first = Vec::new();
    for chunk in 0..(RECEIPTS_PER_USER + extra) / 100 + 1 {
        let batch: Vec<_> = (0..100)
            .map(|i| a_receipt(user, start + chrono::Duration::milliseconds((chunk * 100 + i) as i64)))
            .collect();
        if chunk == 0 {
            first = batch.iter().map(|r| r.id).collect();
        }
        store.insert_receipts(&batch).await.expect("insert");
    }
    store.insert_receipts(&[a_receipt(other, start)]).await.expect("insert");
    let listed = store.list_receipts(user, None, u32::MAX).await.expect("list");
    assert_eq!(listed.len(), RECEIPTS_PER_USER);
    assert!(store.get_receipt(first[0], user).await.expect("get").is_none(), "the oldest went first");
    assert!(store.get_receipt(listed[0].id, user).await.expect("get").is_some());
    assert_eq!(store.list_receipts(other, None, 10).await.expect("list").len(), 1, "per user");
}

#[tokio::test]
async fn connector_serve_sweeps_its_in_memory_store_periodically() {
    let env = [("SWEEP_INTERVAL_SECONDS".to_owned(), "1".to_owned())];
    let served = serve::start(&env).await;
    assert!(served.banner.iter().any(|line| line.contains("in-memory")), "{:?}", served.banner);
    let sweeps = || served.log_lines().into_iter().filter(|line| line["message"] == "swept").collect::<Vec<_>>();
    // Waits for the second sweep (at most 30 s): it happens on its own, again and again.
    let waited = tokio::time::timeout(std::time::Duration::from_secs(30), async {
        while sweeps().len() < 2 {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    })
    .await;
    assert!(waited.is_ok(), "no periodic sweep logged: {}", served.raw_logs());
    let line = &sweeps()[0];
    for kind in ["authorization_requests", "refresh_tokens", "notifications", "stuck_approvals"] {
        assert!(line[kind].is_u64(), "the sweep's line counts {kind}: {line}");
    }
}
