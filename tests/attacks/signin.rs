//! Attacks on signing in: guessing one-time codes, burning email quota, replaying Turnstile tokens, planting flow cookies.
//!
//! Each test plays the attacker against the running connector: `connector serve` on its
//! own Postgres database, signing people in through the Supabase Auth stand-in behind the
//! Turnstile stand-in ([`Connector`]), or the Lambda binaries under the Runtime API
//! emulator where the attack depends on API Gateway (the caller's `sourceIp`). Each
//! asserts that the attack fails and that nothing changed: no call reached the identity
//! provider, no address was bound, no request was signed in.

use std::time::Duration;

use futures_util::future::join_all;
use reqwest::header::{COOKIE, RETRY_AFTER, SET_COOKIE};
use serde_json::{Value, json};
use shared::keys::SigningKeys;
use shared::store::prelude::*;
use shared::store::{OAuthClient, PgStore, Profile};
use testkit::browser::{Browser, Page};
use testkit::db::TestDatabase;
use testkit::lambda::{GatewayEvent, LambdaFunction};
use testkit::serve::Served;
use testkit::standins::{FakeSiteverify, FakeSupabaseAuth};
use testkit::{binaries, lambda_env};
use uuid::Uuid;

const TURNSTILE_SECRET: &str = "0x4AAAAAAA-attack-suite-secret";
const ANON_KEY: &str = "attack-suite-anon-key";
/// The OAuth client `connector serve` seeds.
const DEV_CLIENT: &str = "chatgpt-dev";
/// Far more than any answer Supabase or siteverify gives (the connector reads 64 KiB).
const ONE_MIB: usize = 1 << 20;

/// `connector serve` on its own Postgres database, signing people in through the
/// Supabase Auth stand-in, with the Turnstile stand-in's siteverify.
struct Connector {
    served: Served,
    siteverify: FakeSiteverify,
    supabase: FakeSupabaseAuth,
    db: TestDatabase,
    store: PgStore,
}

/// One authorization request as the browser that started it sees it.
struct Login {
    request: String,
    csrf: String,
}

impl Connector {
    async fn start() -> Connector {
        let (db, store) = TestDatabase::migrated().await;
        let siteverify = FakeSiteverify::start(TURNSTILE_SECRET).await;
        let supabase = FakeSupabaseAuth::start(ANON_KEY).await;
        let settings = [
            ("TURNSTILE_SITE_KEY", "0x4AAAAAAA-attack-suite-site-key"),
            ("TURNSTILE_SECRET_KEY", TURNSTILE_SECRET),
            ("TURNSTILE_SITEVERIFY_URL", siteverify.url.as_str()),
            ("RUST_LOG", "info"),
        ];
        let served = testkit::serve::start_on_supabase(db.url(), &supabase, &settings).await;
        Connector { served, siteverify, supabase, db, store }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.served.base_url)
    }

    /// Clicks Connect as ChatGPT would send someone: a fresh authorization request.
    async fn authorize(&self, browser: &mut Browser) -> Login {
        let redirect = self.url("/dev/oauth/callback");
        let authorize = self.url(&format!(
            "/oauth/chatgpt/authorize?response_type=code&client_id={DEV_CLIENT}&state=attack&scope=profile&redirect_uri={}",
            redirect.replace(':', "%3A").replace('/', "%2F")
        ));
        let to_login = browser.get(&authorize).await;
        assert_eq!(to_login.status, 303, "{}", to_login.body);
        let login = browser.get(&self.url(&to_login.location.expect("to the login page"))).await;
        assert_eq!(login.status, 200, "{}", login.body);
        Login { request: login.field("request"), csrf: login.field("csrf") }
    }

    /// Asks for a sign-in email to `email` with a freshly solved Turnstile challenge.
    async fn request_email(&self, browser: &mut Browser, login: &Login, email: &str) -> Page {
        let token = self.siteverify.issue_token();
        self.post_login(browser, login, email, &token).await
    }

    async fn post_login(&self, browser: &mut Browser, login: &Login, email: &str, turnstile: &str) -> Page {
        let form = [("request", login.request.as_str()), ("csrf", &login.csrf), ("email", email)];
        let mut form = form.to_vec();
        if !turnstile.is_empty() {
            form.push(("cf-turnstile-response", turnstile));
        }
        browser.post_form(&self.url("/oauth/chatgpt/login"), &form).await
    }

    async fn try_code(&self, browser: &mut Browser, login: &Login, code: &str) -> Page {
        browser
            .post_form(
                &self.url("/oauth/chatgpt/callback"),
                &[("request", &login.request), ("csrf", &login.csrf), ("code", code)],
            )
            .await
    }

    /// The stored request's `login_email` and whether a user is signed in on it; `None`
    /// once the request is gone.
    async fn request_row(&self, login: &Login) -> Option<(Option<String>, bool)> {
        let id = Uuid::parse_str(&login.request).expect("a request id");
        let db = self.db.connect().await;
        let row = db
            .query_opt(
                "select login_email, user_id is not null as signed_in from connector_authorization_requests where id = $1",
                &[&id],
            )
            .await
            .expect("query");
        row.map(|row| (row.get("login_email"), row.get("signed_in")))
    }
}

fn unique_email() -> String {
    format!("victim-{}@example.com", &Uuid::new_v4().simple().to_string()[..10])
}

/// The `n`th wrong guess at a six-digit code whose right value is `right`.
fn wrong_code(right: &str, n: usize) -> String {
    (0..)
        .map(|k| format!("{:06}", (n * 7919 + k * 104_729 + 12_345) % 1_000_000))
        .find(|guess| guess != right)
        .expect("a wrong code")
}

fn retry_after(page: &Page) -> u64 {
    page.headers
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no numeric Retry-After on a {} page", page.status))
}

// ---- one-time codes ----------------------------------------------------------------------

/// Five wrong codes end the sign-in: the sixth, even the right one, never reaches
/// Supabase, and the request is gone.
#[tokio::test]
async fn the_sixth_code_on_one_sign_in_never_reaches_supabase_even_when_right() {
    let c = Connector::start().await;
    let mut browser = Browser::default();
    let login = c.authorize(&mut browser).await;
    let victim = unique_email();
    assert_eq!(c.request_email(&mut browser, &login, &victim).await.status, 200);
    let right = c.supabase.last_code_for(&victim).expect("the victim was emailed a code");

    for n in 0..5 {
        let page = c.try_code(&mut browser, &login, &wrong_code(&right, n)).await;
        assert_eq!(page.status, 400, "{}", page.body);
        assert!(page.body.contains("That code is wrong"), "{}", page.body);
    }
    assert_eq!(c.supabase.verify_calls(), 5);

    let sixth = c.try_code(&mut browser, &login, &right).await;
    assert_eq!(sixth.status, 429, "{}", sixth.body);
    assert!(sixth.body.contains("Start again from ChatGPT"), "{}", sixth.body);
    assert_eq!(c.supabase.verify_calls(), 5, "the sixth try reached Supabase");
    assert_eq!(c.request_row(&login).await, None, "the request is dead");

    // Nothing revives it: not the right code again, not the consent page.
    let again = c.try_code(&mut browser, &login, &right).await;
    assert_eq!(again.status, 400);
    assert!(again.body.contains("expired"), "{}", again.body);
    let consent = browser.get(&c.url(&format!("/oauth/chatgpt/consent?request={}", login.request))).await;
    assert_eq!(consent.status, 400);
    assert_eq!(c.supabase.verify_calls(), 5);
}

/// Magic links count as tries too: five forged links end the sign-in, and the real link
/// that arrives next is refused without reaching Supabase.
#[tokio::test]
async fn forged_magic_links_use_up_the_same_five_tries() {
    let c = Connector::start().await;
    let mut browser = Browser::default();
    let login = c.authorize(&mut browser).await;
    let victim = unique_email();
    assert_eq!(c.request_email(&mut browser, &login, &victim).await.status, 200);
    let (redirect_to, token_hash) = c.supabase.last_magic_link_for(&victim).expect("a magic link");
    let link = |hash: &str| format!("{redirect_to}&token_hash={hash}&type=magiclink");

    for _ in 0..5 {
        let page = browser.get(&link(&Uuid::new_v4().simple().to_string())).await;
        assert_eq!(page.status, 400, "{}", page.body);
        assert!(page.body.contains("already used or has expired"), "{}", page.body);
    }
    assert_eq!(c.supabase.verify_calls(), 5);
    let real = browser.get(&link(&token_hash)).await;
    assert_eq!(real.status, 429, "{}", real.body);
    assert!(real.body.contains("Start again from ChatGPT"));
    assert_eq!(c.supabase.verify_calls(), 5, "the sixth link reached Supabase");
    assert_eq!(c.request_row(&login).await, None, "the request is dead");
}

/// Twenty guesses fired at once at one sign-in: the budget is taken in the database
/// before Supabase is asked, so only five reach it.
#[tokio::test]
async fn concurrent_guesses_on_one_sign_in_cannot_exceed_five() {
    let c = Connector::start().await;
    let mut browser = Browser::default();
    let login = c.authorize(&mut browser).await;
    let victim = unique_email();
    assert_eq!(c.request_email(&mut browser, &login, &victim).await.status, 200);
    let right = c.supabase.last_code_for(&victim).expect("a code");

    // The flow cookie is the form's secret under the request's name (plain http here).
    let cookie = format!("dexter_oauth_{}={}", login.request.replace('-', ""), login.csrf);
    let http = shared::tls::client_builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let guesses = (0..20).map(|n| {
        let request = http.post(c.url("/oauth/chatgpt/callback")).header(COOKIE, &cookie).form(&[
            ("request", login.request.clone()),
            ("csrf", login.csrf.clone()),
            ("code", wrong_code(&right, n)),
        ]);
        async move {
            let response = request.send().await.expect("the connector answers");
            (response.status().as_u16(), response.text().await.unwrap_or_default())
        }
    });
    let answers = join_all(guesses).await;
    let judged = answers.iter().filter(|(_, body)| body.contains("That code is wrong")).count();
    assert_eq!(judged, 5, "{:?}", answers.iter().map(|(s, _)| s).collect::<Vec<_>>());
    assert!(answers.iter().all(|(status, _)| [400, 429].contains(status)));
    assert_eq!(c.supabase.verify_calls(), 5, "more than five guesses reached Supabase");
    assert_eq!(c.request_row(&login).await, None, "the request is dead");
}

/// Starting sign-in after sign-in for the same address does not buy more guesses: ten
/// an hour per address, whatever the request.
#[tokio::test]
async fn guessing_one_address_across_many_sign_ins_is_capped_per_address() {
    let c = Connector::start().await;
    c.supabase.allow_rapid_emails();
    let victim = unique_email();
    for _ in 0..2 {
        let mut browser = Browser::default();
        let login = c.authorize(&mut browser).await;
        assert_eq!(c.request_email(&mut browser, &login, &victim).await.status, 200);
        let right = c.supabase.last_code_for(&victim).expect("a code");
        for n in 0..5 {
            assert_eq!(c.try_code(&mut browser, &login, &wrong_code(&right, n)).await.status, 400);
        }
    }
    assert_eq!(c.supabase.verify_calls(), 10);

    let mut browser = Browser::default();
    let login = c.authorize(&mut browser).await;
    assert_eq!(c.request_email(&mut browser, &login, &victim).await.status, 200);
    let right = c.supabase.last_code_for(&victim).expect("a code");
    let refused = c.try_code(&mut browser, &login, &right).await;
    assert_eq!(refused.status, 429, "{}", refused.body);
    assert!(refused.body.contains("this email address"), "{}", refused.body);
    assert!((1..=3600).contains(&retry_after(&refused)));
    assert_eq!(c.supabase.verify_calls(), 10, "the eleventh try reached Supabase");
    assert_eq!(c.request_row(&login).await, Some((Some(victim), false)), "nobody signed in");
}

// ---- binding an address to a sign-in -----------------------------------------------------

/// An address is bound to a sign-in (and codes checked against it) only once the human
/// check passed and the email went out: without either, there is nothing to guess at.
#[tokio::test]
async fn an_address_is_bound_only_after_turnstile_passed_and_the_email_was_sent() {
    let c = Connector::start().await;
    let victim = unique_email();
    let mut attacker = Browser::default();
    let login = c.authorize(&mut attacker).await;

    let no_token = c.post_login(&mut attacker, &login, &victim, "").await;
    assert_eq!(no_token.status, 400);
    assert!(no_token.body.contains("Complete the human check"), "{}", no_token.body);
    let forged = c.post_login(&mut attacker, &login, &victim, "0.forged-turnstile-token").await;
    assert_eq!(forged.status, 400);
    assert!(forged.body.contains("human check failed"), "{}", forged.body);
    assert_eq!(c.request_row(&login).await, Some((None, false)), "an address was bound without the human check");
    let guess = c.try_code(&mut attacker, &login, "123456").await;
    assert_eq!(guess.status, 303, "with no address bound, a code goes back to the login page");
    assert!(guess.location.as_deref().unwrap_or_default().starts_with("/oauth/chatgpt/login"));

    // The victim signs in on their own; Supabase then refuses a second email to them for
    // a minute. The attacker's request, whose email was never sent, stays unbound.
    let mut victim_browser = Browser::default();
    let own = c.authorize(&mut victim_browser).await;
    assert_eq!(c.request_email(&mut victim_browser, &own, &victim).await.status, 200);
    let unsent = c.request_email(&mut attacker, &login, &victim).await;
    assert_eq!(unsent.status, 429, "{}", unsent.body);
    assert_eq!(c.supabase.otp_calls_for(&victim), 2);
    assert_eq!(c.request_row(&login).await, Some((None, false)), "an address was bound without an email sent");
    let right = c.supabase.last_code_for(&victim).expect("the victim's code");
    let guess = c.try_code(&mut attacker, &login, &right).await;
    assert_eq!(guess.status, 303);
    assert!(guess.location.as_deref().unwrap_or_default().starts_with("/oauth/chatgpt/login"));
    assert_eq!(c.supabase.verify_calls(), 0, "a code reached Supabase for an unbound request");
}

// ---- email quota -------------------------------------------------------------------------

/// However many fresh sign-ins are started, Supabase is asked for at most five emails an
/// hour to one address and twenty from one client address.
#[tokio::test]
async fn sign_in_emails_are_capped_per_address_and_per_client_address() {
    let c = Connector::start().await;
    c.supabase.allow_rapid_emails();
    let victim = unique_email();
    for attempt in 0..8 {
        let mut browser = Browser::default();
        let login = c.authorize(&mut browser).await;
        let page = c.request_email(&mut browser, &login, &victim).await;
        if attempt < 5 {
            assert_eq!(page.status, 200, "{}", page.body);
        } else {
            assert_eq!(page.status, 429, "{}", page.body);
            assert!(page.body.contains("too many sign-in emails to this address"), "{}", page.body);
            assert_eq!(c.request_row(&login).await, Some((None, false)));
        }
    }
    assert_eq!(c.supabase.otp_calls_for(&victim), 5, "Supabase was asked for more than five emails");

    // Other addresses, all from this one client address.
    let mut statuses = Vec::new();
    for _ in 0..20 {
        let mut browser = Browser::default();
        let login = c.authorize(&mut browser).await;
        let page = c.request_email(&mut browser, &login, &unique_email()).await;
        if page.status == 429 {
            assert!(page.body.contains("from your network"), "{}", page.body);
            assert!(retry_after(&page) <= 3600);
        }
        statuses.push(page.status);
    }
    let sent = statuses.iter().filter(|s| **s == 200).count();
    assert!(sent > 0, "other addresses were refused by the victim's budget");
    assert!(statuses.ends_with(&[429; 5]), "{statuses:?}");
    assert!(c.supabase.otp_calls() <= 20, "Supabase was asked for {} emails", c.supabase.otp_calls());
    assert_eq!(c.supabase.otp_calls(), 5 + sent);
}

// ---- per-client-address budgets ----------------------------------------------------------

/// A caller over the login page's per-address budget is refused, and claiming another
/// address in forwarding headers does not help: `connector serve` counts the socket's
/// peer. The stored counters hold no address.
#[tokio::test]
async fn a_client_address_over_budget_is_refused_whatever_its_forwarding_headers_claim() {
    let c = Connector::start().await;
    let http = shared::tls::client();
    let login = |n: usize| {
        http.get(c.url(&format!("/oauth/chatgpt/login?request={}", Uuid::new_v4())))
            .header("x-forwarded-for", format!("10.{}.{}.1", n / 250, n % 250))
            .header("x-real-ip", format!("10.9.{}.1", n % 250))
            .header("forwarded", format!("for=10.8.{}.1", n % 250))
    };
    for n in 0..shared::limits::LOGIN_PER_IP.limit as usize {
        assert_eq!(login(n).send().await.unwrap().status(), 400, "request {n} was refused early");
    }
    let refused = login(999).send().await.unwrap();
    assert_eq!(refused.status(), 429);
    assert!(refused.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    assert!(refused.headers().contains_key("x-request-id"));
    let wait: u64 = refused.headers()[RETRY_AFTER].to_str().unwrap().parse().unwrap();
    assert!((1..=600).contains(&wait), "{wait}");
    assert!(refused.text().await.unwrap().contains("Too many sign-in attempts"));

    // The callback keeps its own budget.
    let callback = http.get(c.url(&format!("/oauth/chatgpt/callback?request={}", Uuid::new_v4()))).send().await;
    assert_eq!(callback.unwrap().status(), 400);

    let db = c.db.connect().await;
    let rows = db.query("select bucket, key_hash from connector_rate_limits", &[]).await.unwrap();
    assert!(rows.iter().any(|r| r.get::<_, String>("bucket") == "login-per-ip"));
    for row in rows {
        let key: String = row.get("key_hash");
        assert!(key.len() == 64 && key.bytes().all(|b| b.is_ascii_hexdigit()), "{key}");
        assert!(!key.contains("127.0.0.1"));
    }
}

/// Two token function instances share one database: refused token requests from one
/// `sourceIp` are counted across both and capped at 100 per 10 minutes (then even a
/// right secret gets 429), while another `sourceIp` keeps its own budget.
#[tokio::test]
async fn refused_token_requests_are_budgeted_per_source_ip_across_lambda_instances() {
    let (db, store) = TestDatabase::migrated().await;
    let secret = shared::tokens::generate("dxcs_");
    store
        .create_client(&OAuthClient {
            id: "chatgpt-attacked".into(),
            name: "ChatGPT".into(),
            secret_hash: shared::TokenHash::of(&secret),
            previous_secret_hash: None,
            previous_secret_expires_at: None,
            redirect_uris: vec!["https://chatgpt.com/aip/g-1/oauth/callback".into()],
            scopes: vec!["profile".into()],
            created_at: chrono::Utc::now(),
            public: false,
        })
        .await
        .expect("client");
    let env = lambda_env(db.url(), &json!([SigningKeys::generate_jwk()]).to_string());
    let binary = binaries::path("oauth-token");
    let mut instances = [LambdaFunction::start(&binary, &env).await, LambdaFunction::start(&binary, &env).await];
    let attempt = |ip: &str, secret: &str, n: usize| {
        GatewayEvent::new("POST", "/oauth/chatgpt/token")
            .source_ip(ip)
            .request_id(&format!("Token{n}="))
            .form_body(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", "dxrt_guessed"),
                ("client_id", "chatgpt-attacked"),
                ("client_secret", secret),
            ])
            .build()
    };
    let (attacker, neighbour) = ("198.51.100.66", "203.0.113.99");

    let limit = shared::limits::TOKEN_FAILURES_PER_IP.limit as usize;
    for n in 0..limit {
        let answer = instances[n % 2].invoke(attempt(attacker, "dxcs_guess", n)).await;
        assert_eq!(answer["statusCode"], 401, "{answer}");
    }
    for (n, secret) in [(1000, "dxcs_guess"), (1001, secret.as_str())] {
        let answer = instances[n % 2].invoke(attempt(attacker, secret, n)).await;
        assert_eq!(answer["statusCode"], 429, "{answer}");
        let wait: u64 = answer["headers"]["retry-after"].as_str().expect("Retry-After").parse().unwrap();
        assert!((1..=600).contains(&wait), "{wait}");
        assert_eq!(answer["headers"]["cache-control"], "no-store");
        let body: Value = serde_json::from_str(answer["body"].as_str().unwrap()).unwrap();
        assert_eq!(body["error"], "temporarily_unavailable", "{body}");
        assert!(body["error_description"].is_string(), "{body}");
        assert_eq!(body["request_id"], format!("Token{n}="));
    }

    // Claiming the neighbour's address in X-Forwarded-For changes nothing.
    let spoofed = GatewayEvent::new("POST", "/oauth/chatgpt/token")
        .source_ip(attacker)
        .header("x-forwarded-for", neighbour)
        .form_body(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", "dxrt_guessed"),
            ("client_id", "chatgpt-attacked"),
        ])
        .build();
    let answer = instances[0].invoke(spoofed).await;
    assert_eq!(answer["statusCode"], 429, "{answer}");

    // The neighbour's address is untouched: refused as usual, then served.
    let answer = instances[0].invoke(attempt(neighbour, "dxcs_guess", 2000)).await;
    assert_eq!(answer["statusCode"], 401, "{answer}");
    let answer = instances[1].invoke(attempt(neighbour, &secret, 2001)).await;
    assert_eq!(answer["statusCode"], 400, "{answer}");
    let body: Value = serde_json::from_str(answer["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["error"], "invalid_grant", "the right secret got past the budget: {body}");
}

// ---- Turnstile ---------------------------------------------------------------------------

/// Through the login function as deployed (`https://api.dexter.cash`): a token solved on
/// another host, or for another widget action, buys no email; a token solved on our
/// login page does, and siteverify hears the caller's `sourceIp` as `remoteip`.
#[tokio::test]
async fn turnstile_tokens_from_other_hosts_or_actions_are_refused_and_remoteip_is_sent() {
    let (db, store) = TestDatabase::migrated().await;
    let mut env = lambda_env(db.url(), &json!([SigningKeys::generate_jwk()]).to_string());
    let secret = env.iter().find(|(k, _)| k == "TURNSTILE_SECRET_KEY").map(|(_, v)| v.clone()).unwrap();
    let anon_key = env.iter().find(|(k, _)| k == "SUPABASE_ANON_KEY").map(|(_, v)| v.clone()).unwrap();
    let siteverify = FakeSiteverify::start(&secret).await;
    let supabase = FakeSupabaseAuth::start(&anon_key).await;
    env.retain(|(k, _)| k != "SUPABASE_URL");
    env.push(("SUPABASE_URL".into(), supabase.url.clone()));
    env.push(("TURNSTILE_SITEVERIFY_URL".into(), siteverify.url.clone()));
    let redirect = "https://chatgpt.com/aip/g-1/oauth/callback";
    store
        .create_client(&OAuthClient {
            id: "chatgpt-turnstile".into(),
            name: "ChatGPT".into(),
            secret_hash: shared::TokenHash::of("dxcs_unused"),
            previous_secret_hash: None,
            previous_secret_expires_at: None,
            redirect_uris: vec![redirect.into()],
            scopes: vec!["profile".into()],
            created_at: chrono::Utc::now(),
            public: false,
        })
        .await
        .expect("client");

    // Connect, as ChatGPT sends the browser: the flow cookie is __Host- prefixed.
    let mut authorize = LambdaFunction::start(&binaries::path("oauth-authorize"), &env).await;
    let query = format!(
        "response_type=code&client_id=chatgpt-turnstile&state=s&scope=profile&redirect_uri={}",
        redirect.replace(':', "%3A").replace('/', "%2F")
    );
    let answer = authorize.invoke(GatewayEvent::get("/oauth/chatgpt/authorize").query(&query).build()).await;
    assert_eq!(answer["statusCode"], 303, "{answer}");
    let location = answer["headers"]["location"].as_str().expect("a redirect");
    let request = location.split("request=").nth(1).expect("a request id").to_owned();
    let set_cookie = set_cookies(&answer).into_iter().next().expect("a flow cookie");
    assert_host_cookie(&set_cookie);
    let cookie = set_cookie.split(';').next().unwrap().to_owned();
    let csrf = cookie.split_once('=').unwrap().1.to_owned();

    let mut login = LambdaFunction::start(&binaries::path("oauth-login"), &env).await;
    let page = login
        .invoke(
            GatewayEvent::get("/oauth/chatgpt/login")
                .query(&format!("request={request}"))
                .header("cookie", &cookie)
                .build(),
        )
        .await;
    assert!(page["body"].as_str().unwrap().contains("data-action=\"login\""), "{page}");

    let victim = unique_email();
    let post = |token: &str| {
        GatewayEvent::new("POST", "/oauth/chatgpt/login")
            .source_ip("198.51.100.23")
            .header("cookie", &cookie)
            .form_body(&[
                ("request", request.as_str()),
                ("csrf", &csrf),
                ("email", &victim),
                ("cf-turnstile-response", token),
            ])
            .build()
    };
    for (hostname, action) in [("evil.example", "login"), ("dexter.cash", "login"), ("api.dexter.cash", "signup")] {
        let token = siteverify.issue_token_solved_on(hostname, action);
        let answer = login.invoke(post(&token)).await;
        assert_eq!(answer["statusCode"], 400, "{hostname}/{action}: {answer}");
        assert!(answer["body"].as_str().unwrap().contains("human check failed"), "{answer}");
        assert_eq!(siteverify.last_remoteip().as_deref(), Some("198.51.100.23"));
    }
    assert_eq!(supabase.otp_calls(), 0, "a token solved elsewhere bought an email");
    let id = Uuid::parse_str(&request).unwrap();
    let stored = store.get_authorization_request(id, chrono::Utc::now()).await.unwrap().expect("request");
    assert_eq!(stored.login_email, None);

    let token = siteverify.issue_token_solved_on("api.dexter.cash", "login");
    let answer = login.invoke(post(&token)).await;
    assert_eq!(answer["statusCode"], 200, "{answer}");
    assert!(answer["body"].as_str().unwrap().contains("Check your email"));
    assert_eq!(siteverify.last_remoteip().as_deref(), Some("198.51.100.23"));
    assert_eq!(supabase.otp_calls_for(&victim), 1);
    let stored = store.get_authorization_request(id, chrono::Utc::now()).await.unwrap().expect("request");
    assert_eq!(stored.login_email.as_deref(), Some(victim.as_str()));
}

/// The `Set-Cookie` values of a Lambda function's response document.
fn set_cookies(answer: &Value) -> Vec<String> {
    let mut cookies: Vec<String> =
        answer["cookies"].as_array().into_iter().flatten().filter_map(|c| c.as_str().map(str::to_owned)).collect();
    if let Some(header) = answer["headers"]["set-cookie"].as_str() {
        cookies.push(header.to_owned());
    }
    cookies
}

fn assert_host_cookie(set_cookie: &str) {
    assert!(set_cookie.starts_with("__Host-dexter_oauth_"), "{set_cookie}");
    let attributes: Vec<&str> = set_cookie.split(';').skip(1).map(str::trim).collect();
    for required in ["Path=/", "Secure", "HttpOnly", "SameSite=Lax"] {
        assert!(attributes.contains(&required), "{set_cookie} lacks {required}");
    }
    assert!(!attributes.iter().any(|a| a.to_ascii_lowercase().starts_with("domain")), "{set_cookie}");
}

// ---- answers from upstream ---------------------------------------------------------------

/// A siteverify or Supabase answer padded past 64 KiB is refused without being read
/// whole: no email is bound, nobody is signed in. Such an answer is the provider failing,
/// so the step answers the outage page (`503`, `Retry-After`, the step's form again).
#[tokio::test]
async fn oversized_answers_from_siteverify_and_supabase_are_refused() {
    let c = Connector::start().await;
    c.supabase.allow_rapid_emails();
    let victim = unique_email();
    let mut browser = Browser::default();
    let login = c.authorize(&mut browser).await;
    let outage_page = |page: &Page| {
        assert_eq!(page.status, 503, "{}", page.body);
        assert!(page.headers.contains_key("retry-after"), "no Retry-After");
        assert!(page.body.contains("briefly unavailable"), "{}", page.body);
    };

    c.siteverify.pad_answers(ONE_MIB);
    let page = c.request_email(&mut browser, &login, &victim).await;
    outage_page(&page);
    assert_eq!(c.supabase.otp_calls(), 0);

    c.siteverify.pad_answers(0);
    c.supabase.pad_answers(ONE_MIB);
    let page = c.request_email(&mut browser, &login, &victim).await;
    outage_page(&page);
    assert_eq!(c.request_row(&login).await, Some((None, false)), "bound although the send's outcome is unknown");

    c.supabase.pad_answers(0);
    assert_eq!(c.request_email(&mut browser, &login, &victim).await.status, 200);
    c.supabase.pad_answers(ONE_MIB);
    let right = c.supabase.last_code_for(&victim).expect("a code");
    let page = c.try_code(&mut browser, &login, &right).await;
    outage_page(&page);
    assert_eq!(c.request_row(&login).await, Some((Some(victim), false)), "signed in on an unread answer");
}

// ---- consent and the flow cookie ---------------------------------------------------------

/// The consent page says whose account is being linked, and to which client, so a
/// browser walked into someone else's sign-in shows it; the address leaves with the
/// request.
#[tokio::test]
async fn consent_names_the_signed_in_account_and_the_client() {
    let c = Connector::start().await;
    let victim = unique_email();
    let mut browser = Browser::default();
    let login = c.authorize(&mut browser).await;
    assert_eq!(c.request_email(&mut browser, &login, &victim).await.status, 200);
    let user_id = c.supabase.user_id_for(&victim).expect("a Supabase user");
    c.store
        .upsert_profile(&Profile {
            user_id,
            email: Some(victim.clone()),
            tier: "pro".into(),
            channels: json!({ "chatgpt": true }),
        })
        .await
        .expect("profile");
    let code = c.supabase.last_code_for(&victim).expect("a code");
    let to_consent = c.try_code(&mut browser, &login, &code).await;
    assert_eq!(to_consent.status, 303, "{}", to_consent.body);
    let consent = browser.get(&c.url(&to_consent.location.unwrap())).await;
    assert_eq!(consent.status, 200, "{}", consent.body);
    assert!(consent.body.contains(&format!("Signed in as <strong>{victim}</strong>")), "{}", consent.body);
    assert!(consent.body.contains("Not you?"));
    assert!(consent.body.contains("ChatGPT (local development)"), "the client is named");

    let back = browser
        .post_form(
            &c.url("/oauth/chatgpt/consent"),
            &[("request", &login.request), ("csrf", &login.csrf), ("decision", "deny")],
        )
        .await;
    assert_eq!(back.status, 303);
    assert_eq!(c.request_row(&login).await, None, "the request, and the address with it, is gone");
}

/// Over https the flow cookie is `__Host-` prefixed, so a sibling subdomain cannot plant
/// one; a cookie under the unprefixed name, even with the right secret, is not accepted,
/// and the prefixed one carries the whole flow.
#[tokio::test]
async fn over_https_the_flow_cookie_is_host_prefixed_and_an_unprefixed_plant_is_refused() {
    let base = "https://connector.example";
    let served =
        testkit::serve::start(&[("PUBLIC_BASE_URL".into(), base.into()), ("RUST_LOG".into(), "info".into())]).await;
    let local = |path: &str| format!("{}{path}", served.base_url);
    let redirect = format!("{base}/dev/oauth/callback");
    let authorize = local(&format!(
        "/oauth/chatgpt/authorize?response_type=code&client_id={DEV_CLIENT}&state=s&scope=profile&redirect_uri={}",
        redirect.replace(':', "%3A").replace('/', "%2F")
    ));
    let mut browser = Browser::default();
    let to_login = browser.get(&authorize).await;
    assert_eq!(to_login.status, 303, "{}", to_login.body);
    let set_cookie = to_login.headers[SET_COOKIE].to_str().unwrap().to_owned();
    assert_host_cookie(&set_cookie);
    let (name, secret) = set_cookie.split(';').next().unwrap().split_once('=').unwrap();
    let login_path = to_login.location.clone().unwrap();

    // A cookie planted under the name browsers let any subdomain set.
    let planted = format!("{}={secret}", name.trim_start_matches("__Host-"));
    let http = shared::tls::client();
    let refused = http.get(local(&login_path)).header(COOKIE, planted).send().await.unwrap();
    assert_eq!(refused.status(), 403);

    // The real browser goes all the way (dev provider: the code is printed).
    let login = browser.get(&local(&login_path)).await;
    assert_eq!(login.status, 200);
    let (request, csrf) = (login.field("request"), login.field("csrf"));
    assert_eq!(csrf, secret);
    let sent = browser
        .post_form(
            &local("/oauth/chatgpt/login"),
            &[("request", &request), ("csrf", &csrf), ("email", shared::identity::dev::DEV_USER_EMAIL)],
        )
        .await;
    assert_eq!(sent.status, 200, "{}", sent.body);
    let code = printed_code(&served).await;
    let to_consent = browser
        .post_form(&local("/oauth/chatgpt/callback"), &[("request", &request), ("csrf", &csrf), ("code", &code)])
        .await;
    assert_eq!(to_consent.status, 303, "{}", to_consent.body);
    let back = browser
        .post_form(&local("/oauth/chatgpt/consent"), &[("request", &request), ("csrf", &csrf), ("decision", "deny")])
        .await;
    assert_eq!(back.status, 303);
    let cleared = back.headers[SET_COOKIE].to_str().unwrap();
    assert!(cleared.starts_with(&format!("{name}=;")), "{cleared}");
    assert!(cleared.contains("Max-Age=0") && cleared.contains("Path=/;") && cleared.contains("Secure"), "{cleared}");
}

/// The one-time code the dev provider printed, waiting for the log line to arrive.
async fn printed_code(served: &Served) -> String {
    let prefix = format!("[dev login] one-time code for {}: ", shared::identity::dev::DEV_USER_EMAIL);
    for _ in 0..200 {
        if let Some(code) = served.raw_logs().lines().find_map(|l| l.strip_prefix(&prefix)) {
            return code.trim().to_owned();
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("no code was printed:\n{}", served.raw_logs())
}

/// `/oauth/chatgpt/authorize` needs no credentials and stores a request for every valid
/// call: one client address gets 100 per 10 minutes, then a 429 page, and the flood
/// stores no more rows than the budget.
#[tokio::test]
async fn a_flood_of_authorization_requests_from_one_address_is_capped() {
    let c = Connector::start().await;
    let http = shared::tls::client_builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let redirect = c.url("/dev/oauth/callback").replace(':', "%3A").replace('/', "%2F");
    let authorize = |n: usize| {
        http.get(c.url(&format!(
            "/oauth/chatgpt/authorize?response_type=code&client_id={DEV_CLIENT}&state=flood-{n}&redirect_uri={redirect}"
        )))
        .header("x-forwarded-for", format!("10.7.{}.1", n % 250))
    };
    let budget = shared::limits::AUTHORIZE_PER_IP.limit as usize;
    for n in 0..budget {
        assert_eq!(authorize(n).send().await.unwrap().status(), 303, "request {n} was refused early");
    }
    let refused = authorize(budget).send().await.unwrap();
    assert_eq!(refused.status(), 429);
    assert!(refused.headers().contains_key(RETRY_AFTER));
    assert!(refused.headers().contains_key("x-request-id"));

    let db = c.db.connect().await;
    let stored: i64 = db.query_one("select count(*) from connector_authorization_requests", &[]).await.unwrap().get(0);
    assert_eq!(stored, budget as i64, "the refused request must store nothing");
}
