//! `scripts/smoke`, the operators' after-deploy check, run against `connector serve`
//! configured as a deployment is (Postgres, Supabase Auth's wire contract through its
//! stand-in, the sandbox MCP upstream): the whole ChatGPT flow must pass, and a broken
//! deployment must fail it.

use std::process::Command;

use shared::identity::dev::{DEV_USER_EMAIL, DEV_USER_ID};
use testkit::app::ANON_KEY;
use testkit::db::TestDatabase;
use testkit::serve::Served;
use testkit::standins::{FakeSupabaseAuth, SERVICE_ROLE_KEY};

async fn deployment(db: &TestDatabase, supabase: &FakeSupabaseAuth) -> Served {
    testkit::serve::start_on_supabase(db.url(), supabase, &[("RUST_LOG", "warn")]).await
}

fn smoke(served: &Served, supabase: &FakeSupabaseAuth, email: &str) -> (bool, String) {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/smoke");
    let output = Command::new("python3")
        .arg(script)
        .arg(&served.base_url)
        .env("SMOKE_CLIENT_ID", "chatgpt-dev")
        .env("SMOKE_CLIENT_SECRET", served.banner_secret())
        .env("SMOKE_REDIRECT_URI", format!("{}/dev/oauth/callback", served.base_url))
        .env("SMOKE_EMAIL", email)
        .env("SUPABASE_URL", &supabase.url)
        .env("SUPABASE_SERVICE_ROLE_KEY", SERVICE_ROLE_KEY)
        .output()
        .expect("python3 runs scripts/smoke");
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output.status.success(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_smoke_script_runs_the_whole_chatgpt_flow_against_a_deployment() {
    let db = TestDatabase::create().await;
    let supabase = FakeSupabaseAuth::start(ANON_KEY).await;
    supabase.add_user(DEV_USER_EMAIL, DEV_USER_ID);
    let served = deployment(&db, &supabase).await;

    let (passed, output) = smoke(&served, &supabase, DEV_USER_EMAIL);
    assert!(passed, "scripts/smoke failed:\n{output}");
    for step in ["authorize", "consent", "get_portfolio", "get_receipt", "refresh", "revoke"] {
        assert!(output.lines().any(|l| l.starts_with("ok") && l.contains(step)), "no passing {step} step:\n{output}");
    }
    assert!(!output.contains("dxrt_") && !output.contains("dxac_"), "the script printed a token or code:\n{output}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_smoke_script_fails_where_the_test_account_cannot_link() {
    let db = TestDatabase::create().await;
    let supabase = FakeSupabaseAuth::start(ANON_KEY).await;
    // A Supabase user without a Dexter profile: consent refuses, so the script must fail.
    supabase.add_user("nobody@example.com", shared::UserId::random());
    let served = deployment(&db, &supabase).await;

    let (passed, output) = smoke(&served, &supabase, "nobody@example.com");
    assert!(!passed, "scripts/smoke passed a deployment where the account cannot link:\n{output}");
    assert!(output.contains("FAIL"), "{output}");
}
