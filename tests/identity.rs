//! The login flow's outside services, through the production clients: Turnstile siteverify
//! (`shared::turnstile`) and the identity providers (`shared::identity`), against the
//! stand-ins in `testkit::standins`.

use shared::config::{CaptchaVerifier, TURNSTILE_TEST_SECRET, TurnstileConfig};
use shared::identity::dev::{DEV_USER_EMAIL, DEV_USER_ID, DevIdentity};
use shared::identity::supabase::SupabaseAuth;
use shared::identity::{IdentityError, IdentityProvider};
use shared::turnstile::{Expected, Turnstile, TurnstileError};
use testkit::standins::{FakeSiteverify, FakeSupabaseAuth};

const SECRET: &str = "0x4AAAAAAA-fake-widget-secret";
const ANON_KEY: &str = "fake-anon-key";
const CALLBACK: &str = "https://api.dexter.cash/oauth/chatgpt/callback?login=7f3c";
/// Where the stand-in's default tokens are solved: the test app's host, the login action.
const EXPECTED: Expected<'static> =
    Expected { hostname: testkit::standins::DEFAULT_TURNSTILE_HOSTNAME, action: shared::turnstile::LOGIN_ACTION };

fn turnstile(secret: &str, siteverify_url: &str) -> Turnstile {
    Turnstile::new(
        TurnstileConfig {
            site_key: "0x4AAAAAAA-fake-site-key".into(),
            secret: secret.into(),
            siteverify_url: siteverify_url.into(),
        },
        shared::tls::client(),
    )
}

fn supabase(fake: &FakeSupabaseAuth, captcha: CaptchaVerifier) -> SupabaseAuth {
    SupabaseAuth::new(&fake.url, ANON_KEY.into(), captcha, shared::tls::client())
}

fn codes(err: TurnstileError) -> Vec<String> {
    match err {
        TurnstileError::Rejected { codes } => codes,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

// ---- Turnstile -------------------------------------------------------------------------

#[tokio::test]
async fn a_turnstile_token_verifies_once_then_is_refused_as_a_duplicate() {
    let fake = FakeSiteverify::start(SECRET).await;
    let turnstile = turnstile(SECRET, &fake.url);
    let token = fake.issue_token();

    turnstile.verify(&token, Some("203.0.113.7"), EXPECTED).await.unwrap();
    assert_eq!(fake.last_remoteip().as_deref(), Some("203.0.113.7"));

    let err = turnstile.verify(&token, None, EXPECTED).await.unwrap_err();
    assert_eq!(codes(err), ["timeout-or-duplicate"]);

    let err = turnstile.verify("never-issued", None, EXPECTED).await.unwrap_err();
    assert_eq!(codes(err), ["invalid-input-response"]);
    assert_eq!(fake.calls(), 3);
}

#[tokio::test]
async fn a_wrong_turnstile_secret_is_rejected() {
    let fake = FakeSiteverify::start(SECRET).await;
    let turnstile = turnstile("0x4AAAAAAA-some-other-secret", &fake.url);

    let err = turnstile.verify(&fake.issue_token(), None, EXPECTED).await.unwrap_err();
    assert_eq!(codes(err), ["invalid-input-secret"]);
}

#[tokio::test]
async fn siteverify_being_down_makes_turnstile_unavailable() {
    // Bind and release a port so nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let turnstile = turnstile(SECRET, &format!("http://127.0.0.1:{port}/turnstile/v0/siteverify"));

    let err = turnstile.verify("some-token", None, EXPECTED).await.unwrap_err();
    assert!(matches!(err, TurnstileError::Unavailable(_)), "{err:?}");
}

#[tokio::test]
async fn a_lost_siteverify_answer_is_retried_without_spending_the_token_twice() {
    let fake = FakeSiteverify::start(SECRET).await;
    let turnstile = turnstile(SECRET, &fake.url);
    let token = fake.issue_token();
    fake.lose_next_answer();

    // The first call spends the token but its answer is lost; the retry carries the same
    // idempotency key and gets the first answer instead of `timeout-or-duplicate`.
    turnstile.verify(&token, None, EXPECTED).await.unwrap();
    assert_eq!(fake.calls(), 2);
    assert_eq!(fake.times_sent(&token), 2);

    let err = turnstile.verify(&token, None, EXPECTED).await.unwrap_err();
    assert_eq!(codes(err), ["timeout-or-duplicate"]);
}

#[tokio::test]
async fn the_turnstile_test_secret_passes_offline_without_a_call() {
    let fake = FakeSiteverify::start(SECRET).await;
    let turnstile = turnstile(TURNSTILE_TEST_SECRET, &fake.url);
    assert!(turnstile.uses_test_keys());

    turnstile.verify("XXXX.DUMMY.TOKEN.XXXX", None, EXPECTED).await.unwrap();
    turnstile.verify("anything-else", None, EXPECTED).await.unwrap();
    // Even test keys refuse what Cloudflare's widget could never produce.
    assert!(turnstile.verify("", None, EXPECTED).await.is_err());
    assert!(turnstile.verify(&"t".repeat(2049), None, EXPECTED).await.is_err());
    assert_eq!(fake.calls(), 0);
}

// ---- Supabase Auth ---------------------------------------------------------------------

#[tokio::test]
async fn a_supabase_code_login_returns_the_user_id() {
    let fake = FakeSupabaseAuth::start(ANON_KEY).await;
    let auth = supabase(&fake, CaptchaVerifier::Connector);
    assert!(!auth.verifies_captcha());

    auth.send_login_email("  Ada@Example.com", None, CALLBACK).await.unwrap();
    let code = fake.last_code_for("ada@example.com").unwrap();
    let user = auth.verify_email_code("ada@example.com", &code).await.unwrap();

    assert_eq!(Some(user.id), fake.user_id_for("ada@example.com"));
    assert_eq!(user.email.as_deref(), Some("ada@example.com"));
}

#[tokio::test]
async fn a_wrong_or_expired_supabase_code_is_invalid() {
    let fake = FakeSupabaseAuth::start(ANON_KEY).await;
    let auth = supabase(&fake, CaptchaVerifier::Connector);
    auth.send_login_email("bo@example.com", None, CALLBACK).await.unwrap();
    let code = fake.last_code_for("bo@example.com").unwrap();
    let wrong = if code == "000000" { "000001" } else { "000000" };

    let err = auth.verify_email_code("bo@example.com", wrong).await.unwrap_err();
    assert!(matches!(err, IdentityError::InvalidCode), "{err:?}");
    // Not even a code: refused without asking Supabase.
    let err = auth.verify_email_code("bo@example.com", "12ab56").await.unwrap_err();
    assert!(matches!(err, IdentityError::InvalidCode), "{err:?}");

    fake.expire_codes();
    let err = auth.verify_email_code("bo@example.com", &code).await.unwrap_err();
    assert!(matches!(err, IdentityError::InvalidCode), "{err:?}");
}

#[tokio::test]
async fn a_supabase_magic_link_token_hash_works_once() {
    let fake = FakeSupabaseAuth::start(ANON_KEY).await;
    let auth = supabase(&fake, CaptchaVerifier::Connector);
    auth.send_login_email("cy@example.com", None, CALLBACK).await.unwrap();
    let (redirect_to, token_hash) = fake.last_magic_link_for("cy@example.com").unwrap();
    assert_eq!(redirect_to, CALLBACK);

    let user = auth.verify_magic_link(&token_hash, "email").await.unwrap();
    assert_eq!(Some(user.id), fake.user_id_for("cy@example.com"));

    let err = auth.verify_magic_link(&token_hash, "email").await.unwrap_err();
    assert!(matches!(err, IdentityError::InvalidCode), "{err:?}");
    // A link for another purpose never signs anyone in.
    let err = auth.verify_magic_link(&token_hash, "recovery").await.unwrap_err();
    assert!(matches!(err, IdentityError::InvalidCode), "{err:?}");
}

#[tokio::test]
async fn the_captcha_token_is_forwarded_and_a_supabase_side_rejection_is_captcha_rejected() {
    let siteverify = FakeSiteverify::start(SECRET).await;
    let fake = FakeSupabaseAuth::start(ANON_KEY).await;
    fake.require_captcha(&siteverify);
    let auth = supabase(&fake, CaptchaVerifier::Supabase);
    assert!(auth.verifies_captcha());

    let token = siteverify.issue_token();
    auth.send_login_email("di@example.com", Some(&token), CALLBACK).await.unwrap();
    assert_eq!(siteverify.times_sent(&token), 1);
    assert!(fake.last_code_for("di@example.com").is_some());

    // Spent token, then no token at all.
    for captcha in [Some(token.as_str()), None] {
        let err = auth.send_login_email("ed@example.com", captcha, CALLBACK).await.unwrap_err();
        assert!(matches!(err, IdentityError::CaptchaRejected), "{err:?}");
    }
    assert!(fake.last_code_for("ed@example.com").is_none());
}

#[tokio::test]
async fn the_supabase_email_rate_limit_is_rate_limited() {
    let fake = FakeSupabaseAuth::start(ANON_KEY).await;
    let auth = supabase(&fake, CaptchaVerifier::Connector);
    auth.send_login_email("fa@example.com", None, CALLBACK).await.unwrap();

    let err = auth.send_login_email("fa@example.com", None, CALLBACK).await.unwrap_err();
    assert!(matches!(err, IdentityError::RateLimited), "{err:?}");
}

#[tokio::test]
async fn a_malformed_email_is_invalid_and_a_wrong_anon_key_is_unavailable() {
    let fake = FakeSupabaseAuth::start(ANON_KEY).await;
    let auth = supabase(&fake, CaptchaVerifier::Connector);
    let err = auth.send_login_email("not-an-email", None, CALLBACK).await.unwrap_err();
    assert!(matches!(err, IdentityError::InvalidEmail), "{err:?}");

    let misconfigured =
        SupabaseAuth::new(&fake.url, "wrong-key".into(), CaptchaVerifier::Connector, shared::tls::client());
    let err = misconfigured.send_login_email("gu@example.com", None, CALLBACK).await.unwrap_err();
    assert!(matches!(err, IdentityError::Unavailable(_)), "{err:?}");
}

// ---- Dev identity ----------------------------------------------------------------------

#[tokio::test]
async fn a_dev_code_works_once() {
    let dev = DevIdentity::new();
    dev.send_login_email("hal@example.com", None, CALLBACK).await.unwrap();
    let code = dev.pending_code("hal@example.com").unwrap();
    assert_eq!(code.len(), 6);

    let user = dev.verify_email_code("hal@example.com", &code).await.unwrap();
    let err = dev.verify_email_code("hal@example.com", &code).await.unwrap_err();
    assert!(matches!(err, IdentityError::InvalidCode), "{err:?}");

    // The same address keeps its id on the next sign-in.
    dev.send_login_email("hal@example.com", None, CALLBACK).await.unwrap();
    let code = dev.pending_code("hal@example.com").unwrap();
    let again = dev.verify_email_code("HAL@example.com", &code).await.unwrap();
    assert_eq!(again.id, user.id);
}

#[tokio::test]
async fn five_wrong_dev_codes_lock_the_code() {
    let dev = DevIdentity::new();
    dev.send_login_email("ivy@example.com", None, CALLBACK).await.unwrap();
    let code = dev.pending_code("ivy@example.com").unwrap();
    let wrong = if code == "000000" { "000001" } else { "000000" };

    for _ in 0..5 {
        let err = dev.verify_email_code("ivy@example.com", wrong).await.unwrap_err();
        assert!(matches!(err, IdentityError::InvalidCode), "{err:?}");
    }
    let err = dev.verify_email_code("ivy@example.com", &code).await.unwrap_err();
    assert!(matches!(err, IdentityError::InvalidCode), "{err:?}");
}

#[tokio::test]
async fn the_dev_email_maps_to_the_dev_user_id() {
    let dev = DevIdentity::new();
    dev.send_login_email(DEV_USER_EMAIL, None, CALLBACK).await.unwrap();
    let code = dev.pending_code(DEV_USER_EMAIL).unwrap();
    let user = dev.verify_email_code(DEV_USER_EMAIL, &code).await.unwrap();
    assert_eq!(user.id, DEV_USER_ID);
    assert_eq!(DEV_USER_ID.to_string(), "00000000-0000-4000-8000-00000000d3e7");
}

#[tokio::test]
async fn a_dev_magic_link_returns_to_the_callback_and_works_once() {
    let dev = DevIdentity::new();
    dev.send_login_email("jo@example.com", None, CALLBACK).await.unwrap();
    let link = reqwest::Url::parse(&dev.pending_magic_link("jo@example.com").unwrap()).unwrap();
    assert!(link.as_str().starts_with(&format!("{CALLBACK}&token_hash=")));
    let param = |name: &str| link.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned()).unwrap();
    let (token_hash, link_type) = (param("token_hash"), param("type"));

    let user = dev.verify_magic_link(&token_hash, &link_type).await.unwrap();
    assert_eq!(user.email.as_deref(), Some("jo@example.com"));
    let err = dev.verify_magic_link(&token_hash, &link_type).await.unwrap_err();
    assert!(matches!(err, IdentityError::InvalidCode), "{err:?}");
    // The link and the code are one credential: using the link spent the code too.
    assert!(dev.pending_code("jo@example.com").is_none());
}
