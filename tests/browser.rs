//! The account-linking pages in a real browser: headless Chromium (Debian's `chromium`,
//! driven through `chromium-driver` by `testkit::webdriver`) against `connector serve` on
//! a throwaway Postgres database, with the Supabase Auth stand-in sending the "emails" and
//! Cloudflare's always-pass Turnstile test keys (the widget's script cannot load offline;
//! with those keys the connector accepts the empty widget response).
//!
//! A person links their account by keyboard alone (Tab, typing, Enter), at a phone's and
//! a desktop's width, and the client redeems the code it got. Every page on the way, and
//! every error page (an expired or unknown request, another browser, a wrong code, an
//! account without the ChatGPT channel), is checked for what the person and the browser
//! need: the HTTP status and the `Content-Security-Policy` header as the browser received
//! them, no horizontal scrolling, the control the page is for visible without scrolling,
//! every input labelled, every control reachable by Tab in page order, no CSP violation and
//! no console error but the Turnstile script's failure to load (host
//! `challenges.cloudflare.com`), and an inline script injected into the page refused by the
//! CSP. Elements are found by id, name and type, never by their text.
//!
//! `UPDATE_SCREENSHOTS=1` writes each page's screenshot to `docs/screenshots/` (what
//! operators see in docs/screenshots/README.md); otherwise the screenshots are taken and
//! checked to be PNGs, and the committed files are left alone.
//!
//! Without Chromium or chromedriver these tests fail, saying how to install them.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use shared::UserId;
use shared::store::{PgStore, Profile, ProfileStore};
use testkit::db::TestDatabase;
use testkit::serve::Served;
use testkit::standins::FakeSupabaseAuth;
use testkit::webdriver::{CHROMIUM, Chromedriver, ConsoleEntry, DESKTOP, PHONE, Session, Viewport, keys};
use uuid::Uuid;

const ANON_KEY: &str = "test-anon-key";
/// The OAuth client `connector serve` seeds; one of its redirect URIs is the connector's
/// own `/dev/oauth/callback`, where the browser lands at the end.
const CLIENT_ID: &str = "chatgpt-dev";
const SCOPES: &str = "mcp:invoke wallet:read profile";

/// The login form's submit button, the code form's, and consent's two decisions.
const SUBMIT: &str = "form button[type=submit]";
const ALLOW: &str = "form button[type=submit][name=decision][value=allow]";
const DENY: &str = "form button[type=submit][name=decision][value=deny]";
const EMAIL_FIELD: &str = "form input#email[name=email][type=email]";
const CODE_FIELD: &str = "form input#code[name=code]";

/// Records every Content-Security-Policy violation of a page, from before its first byte
/// runs (installed with `Session::before_each_page`).
const CSP_RECORDER: &str = "window.__cspViolations = [];\
    document.addEventListener('securitypolicyviolation', \
    e => window.__cspViolations.push(e.violatedDirective + ' ' + e.blockedURI));";

/// `connector serve` on its own database, the Supabase Auth stand-in it sends codes
/// through, and a chromedriver. Fields drop in order: the browsers first, the database
/// last.
struct Linking {
    driver: Chromedriver,
    served: Served,
    supabase: FakeSupabaseAuth,
    store: PgStore,
    _db: TestDatabase,
}

impl Linking {
    async fn start() -> Linking {
        let db = TestDatabase::create().await;
        let supabase = FakeSupabaseAuth::start(ANON_KEY).await;
        let served = testkit::serve::start_on_supabase(db.url(), &supabase, &[("RUST_LOG", "info")]).await;
        let store = PgStore::connect(db.url(), false).expect("the test's own connection to the database");
        let driver = Chromedriver::start().await;
        Linking { driver, served, supabase, store, _db: db }
    }

    fn base(&self) -> &str {
        &self.served.base_url
    }

    fn redirect_uri(&self) -> String {
        format!("{}/dev/oauth/callback", self.base())
    }

    /// What ChatGPT opens when someone clicks Connect.
    fn authorize_url(&self, state: &str) -> String {
        let mut url = reqwest::Url::parse(&format!("{}/oauth/chatgpt/authorize", self.base())).expect("a URL");
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", CLIENT_ID)
            .append_pair("redirect_uri", &self.redirect_uri())
            .append_pair("scope", SCOPES)
            .append_pair("state", state);
        url.into()
    }

    /// A fresh browser of `viewport`'s size, recording CSP violations.
    async fn browser(&self, viewport: Viewport) -> Session {
        let session = self.driver.session(viewport).await;
        session.before_each_page(CSP_RECORDER).await;
        session
    }

    /// Gives the Supabase user of `email` (known once a code was sent) a Dexter profile.
    async fn give_profile(&self, email: &str, chatgpt: bool) -> UserId {
        let user_id = self.supabase.user_id_for(email).expect("Supabase knows the user once it sent a code");
        self.store
            .upsert_profile(&Profile {
                user_id,
                email: Some(email.into()),
                tier: "pro".into(),
                channels: json!({ "chatgpt": chatgpt }),
            })
            .await
            .expect("profile");
        user_id
    }

    /// The client's server redeeming `code` at the token endpoint, then calling an action
    /// with the access token: returns the profile the action answered.
    async fn redeem(&self, code: &str) -> Value {
        let http = shared::tls::client();
        let secret = self.served.banner_secret();
        let response = http
            .post(format!("{}/oauth/chatgpt/token", self.base()))
            .basic_auth(CLIENT_ID, Some(secret))
            .form(&[("grant_type", "authorization_code"), ("code", code), ("redirect_uri", &self.redirect_uri())])
            .send()
            .await
            .expect("the token endpoint answers");
        assert_eq!(response.status(), 200, "the code from the browser redeems");
        let tokens: Value = response.json().await.expect("JSON");
        let access = tokens["access_token"].as_str().expect("an access token");
        assert!(tokens["refresh_token"].is_string(), "{tokens}");
        let profile = http
            .get(format!("{}/connector/chatgpt/get_profile", self.base()))
            .bearer_auth(access)
            .send()
            .await
            .expect("the action answers");
        assert_eq!(profile.status(), 200, "the access token works");
        profile.json().await.expect("JSON")
    }
}

// ---------------------------------------------------------------------------------------
// The person at the keyboard

/// Whether the focused element matches `css`.
async fn focused(session: &Session, css: &str) -> bool {
    let script = format!("return document.activeElement !== null && document.activeElement.matches({})", json!(css));
    session.execute(&script, vec![]).await == json!(true)
}

/// Presses Tab until `css` has the focus, as a person moving to a field would.
async fn tab_to(session: &Session, css: &str) {
    for _ in 0..20 {
        if focused(session, css).await {
            return;
        }
        session.type_keys(keys::TAB).await;
    }
    panic!("Tab never reached {css} on {}:\n{}", session.url().await, session.source().await);
}

/// Tabs to `css`, types `text` into it and presses Enter.
async fn fill_in_and_enter(session: &Session, css: &str, text: &str) {
    tab_to(session, css).await;
    session.type_keys(text).await;
    session.type_keys(keys::ENTER).await;
}

/// Clicks Connect in the client (with `state`) and, by keyboard, asks for a code for
/// `email`: returns on the code page, once Supabase has "emailed" the code and the user
/// has a Dexter profile (ChatGPT channel on or off). Checks the login and code pages on
/// the way when `check`.
async fn sign_in(linking: &Linking, session: &Session, state: &str, email: &str, chatgpt: bool, check: bool) {
    session.goto(&linking.authorize_url(state)).await;
    session.wait_for_element(EMAIL_FIELD).await;
    if check {
        check_page(session, Some("login"), SUBMIT, 200).await;
    }
    fill_in_and_enter(session, EMAIL_FIELD, email).await;
    session.wait_for_element(CODE_FIELD).await;
    if check {
        check_page(session, Some("code"), SUBMIT, 200).await;
    }
    linking.give_profile(email, chatgpt).await;
}

/// Types the code Supabase emailed to `email` on the code page and presses Enter.
async fn enter_emailed_code(linking: &Linking, session: &Session, email: &str) {
    let code = linking.supabase.last_code_for(email).expect("a code was emailed");
    fill_in_and_enter(session, CODE_FIELD, &code).await;
}

/// Waits until the browser is at the client's redirect URI and returns its query.
async fn landed_at_the_client(linking: &Linking, session: &Session) -> Vec<(String, String)> {
    let script = format!("return location.href.startsWith({}) ? location.href : null", json!(linking.redirect_uri()));
    let href = session.wait_for("the client's redirect URI", &script).await;
    // The client's page is not ours to check: forget what the browser logged there.
    session.console().await;
    session.devtools_events().await;
    let url = reqwest::Url::parse(href.as_str().expect("a URL")).expect("a URL");
    url.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}

fn param<'a>(query: &'a [(String, String)], name: &str) -> Option<&'a str> {
    query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// Waits for the page at `path` to have loaded.
async fn wait_for_page(session: &Session, path: &str) {
    let script = format!("return location.pathname === {} && document.readyState === 'complete'", json!(path));
    session.wait_for(&format!("the page {path}"), &script).await;
}

// ---------------------------------------------------------------------------------------
// What every page must get right

/// Checks the page the browser shows now. `screenshot` names its screenshot
/// (`docs/screenshots/<name>-<viewport>.png`); `primary` is the CSS selector of what the
/// person is there for (the button, or the heading of a page without one); `status` is the
/// HTTP status the page must have come with.
async fn check_page(session: &Session, screenshot: Option<&str>, primary: &str, status: u16) {
    let url = session.url().await;
    let what = format!("{url} at {} width", session.viewport.name);

    // The response, as the browser received it.
    let events = session.devtools_events().await;
    let response = events
        .iter()
        .rev()
        .filter(|e| e["method"] == "Network.responseReceived" && e["params"]["type"] == "Document")
        .map(|e| &e["params"]["response"])
        .find(|r| r["url"] == url.as_str())
        .unwrap_or_else(|| panic!("no document response for {what} in the DevTools log"));
    assert_eq!(response["status"], status, "{what}: HTTP status");
    let header = |name: &str| -> String {
        let headers = response["headers"].as_object().expect("headers");
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("{what}: no {name} header in {headers:?}"))
            .to_owned()
    };
    let csp = header("content-security-policy");
    for directive in ["default-src 'none'", "frame-ancestors 'none'", "base-uri 'none'"] {
        assert!(csp.contains(directive), "{what}: the CSP lacks {directive}: {csp}");
    }
    assert_eq!(header("x-frame-options"), "DENY", "{what}");
    assert!(header("content-type").starts_with("text/html"), "{what}");

    assert!(!session.title().await.trim().is_empty(), "{what}: no title");

    // Screenshot first: the page as it first appears, focus ring and all.
    let png = session.screenshot().await;
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "{what}: the screenshot is not a PNG");
    if let Some(name) = screenshot
        && std::env::var("UPDATE_SCREENSHOTS").as_deref() == Ok("1")
    {
        let path = screenshots_dir().join(format!("{name}-{}.png", session.viewport.name));
        std::fs::write(&path, &png).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    }

    check_layout(session, &what, primary).await;
    check_no_errors(session, &what, &url, status).await;
    check_focus_order(session, &what).await;
    check_inline_script_refused(session, &what).await;
}

fn screenshots_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/screenshots")
}

/// No horizontal scrolling; `primary` inside the viewport as the page opens; every input
/// labelled and every button named.
async fn check_layout(session: &Session, what: &str, primary: &str) {
    let script = format!(
        "const primary = document.querySelector({primary});
         const box = primary && primary.getBoundingClientRect();
         const inputs = [...document.querySelectorAll('input:not([type=hidden]), select, textarea')];
         return {{
           scrollWidth: document.documentElement.scrollWidth,
           innerWidth: window.innerWidth,
           innerHeight: window.innerHeight,
           scrollY: window.scrollY,
           primary: box && {{ top: box.top, left: box.left, bottom: box.bottom, right: box.right }},
           unlabelled: inputs
             .filter(i => !(i.id && document.querySelector('label[for=\"' + CSS.escape(i.id) + '\"]')))
             .map(i => i.outerHTML),
           unnamedButtons: [...document.querySelectorAll('button')]
             .filter(b => b.textContent.trim() === '' && !b.getAttribute('aria-label'))
             .map(b => b.outerHTML),
         }};",
        primary = json!(primary)
    );
    let layout = session.execute(&script, vec![]).await;
    let number = |key: &str| layout[key].as_f64().unwrap_or_else(|| panic!("{what}: {key} in {layout}"));
    let viewport = session.viewport;
    // A phone zooms a page wider than the screen out to fit (innerWidth grows with it); a
    // desktop shows a horizontal scrollbar (scrollWidth grows). Either is a failure.
    let screen = f64::from(viewport.width);
    assert!(
        number("innerWidth") == screen && number("scrollWidth") <= screen,
        "{what} is wider than the {screen} px screen (zoomed out to fit, or scrolls sideways): {layout}"
    );
    assert_eq!(number("scrollY"), 0.0, "{what}: opened scrolled");
    let b = &layout["primary"];
    assert!(b.is_object(), "{what}: no {primary}");
    let edge = |key: &str| b[key].as_f64().expect("a number");
    assert!(
        edge("top") >= 0.0
            && edge("left") >= 0.0
            && edge("bottom") <= number("innerHeight")
            && edge("right") <= number("innerWidth"),
        "{what}: {primary} is not in view without scrolling: {layout}"
    );
    assert_eq!(layout["unlabelled"], json!([]), "{what}: inputs without a <label for>");
    assert_eq!(layout["unnamedButtons"], json!([]), "{what}: buttons without a name");
}

/// No console error and no CSP violation, except the Turnstile script failing to load
/// offline and, on an error page, the browser noting the page's own error status.
async fn check_no_errors(session: &Session, what: &str, url: &str, status: u16) {
    let violations = session.execute("return window.__cspViolations", vec![]).await;
    assert_eq!(violations, json!([]), "{what}: CSP violations (or the recorder did not run)");
    let unexpected: Vec<ConsoleEntry> = session
        .console()
        .await
        .into_iter()
        .filter(|e| e.level == "SEVERE")
        .filter(|e| !turnstile_offline(e))
        .filter(|e| !(status >= 400 && own_error_status(e, url, status)))
        .collect();
    assert!(unexpected.is_empty(), "{what}: console errors: {unexpected:#?}");
}

/// The Turnstile script, which cannot load without the internet.
fn turnstile_offline(entry: &ConsoleEntry) -> bool {
    entry.source == "network" && entry.url().is_some_and(|u| u.host_str() == Some("challenges.cloudflare.com"))
}

/// Chromium's note that the page itself came with an error status.
fn own_error_status(entry: &ConsoleEntry, url: &str, status: u16) -> bool {
    entry.source == "network"
        && entry.url().is_some_and(|u| u.as_str() == url)
        && entry.message.contains(&format!("the server responded with a status of {status}"))
}

/// Tab reaches every control, one after the other in page order.
async fn check_focus_order(session: &Session, what: &str) {
    let count = session
        .execute(
            "const controls = [...document.querySelectorAll(
               'a[href], button, input:not([type=hidden]), select, textarea, [tabindex]')]
               .filter(c => !c.disabled && c.tabIndex >= 0);
             controls.forEach((c, i) => c.dataset.focusProbe = i);
             if (document.activeElement) document.activeElement.blur();
             return controls.length;",
            vec![],
        )
        .await
        .as_u64()
        .expect("a count");
    let mut visits = Vec::new();
    for _ in 0..(2 * count + 2) {
        session.type_keys(keys::TAB).await;
        let probe = session
            .execute("const p = document.activeElement && document.activeElement.dataset.focusProbe; return p === undefined ? null : Number(p);", vec![])
            .await;
        visits.push(probe.as_u64());
    }
    for control in 0..count {
        assert!(visits.contains(&Some(control)), "{what}: Tab never reaches control {control}: {visits:?}");
    }
    for pair in visits.windows(2) {
        if let [Some(a), Some(b)] = pair {
            // The next control, or (past the last one, Chromium may skip its own UI) the first.
            let wrapped = a + 1 == count && *b == 0;
            assert!(*b == a + 1 || wrapped, "{what}: Tab goes from control {a} to {b}: {visits:?}");
        }
    }
}

/// The CSP is in force in the rendered page: an inline script inserted into it is refused
/// (and the refusal reported).
async fn check_inline_script_refused(session: &Session, what: &str) {
    let ran = session
        .execute(
            "window.__inlineRan = false;
             const s = document.createElement('script');
             s.textContent = 'window.__inlineRan = true';
             document.head.appendChild(s);
             return window.__inlineRan;",
            vec![],
        )
        .await;
    assert_eq!(ran, json!(false), "{what}: an injected inline script ran");
    session
        .wait_for(
            &format!("{what}: the CSP violation of the injected script"),
            "return window.__cspViolations.some(v => v.startsWith('script-src'))",
        )
        .await;
    // The refusal is on the console too: take it off, so the next page starts clean.
    let console = session.console().await;
    assert!(
        console.iter().any(|e| e.level == "SEVERE" && e.message.contains("Content Security Policy")),
        "{what}: the browser console did not report the refused script: {console:#?}"
    );
}

// ---------------------------------------------------------------------------------------
// The tests

/// Connect in the client, sign in, type the emailed code, Allow; then the client redeems
/// the code and calls an action. By keyboard only.
async fn links_an_account_by_keyboard(viewport: Viewport) {
    let linking = Linking::start().await;
    let session = linking.browser(viewport).await;
    let email = "ada@example.com";
    let state = format!("from-chatgpt-{}", viewport.name);
    sign_in(&linking, &session, &state, email, true, true).await;
    enter_emailed_code(&linking, &session, email).await;
    session.wait_for_element(ALLOW).await;
    let consent_url = session.url().await;
    check_page(&session, Some("consent"), ALLOW, 200).await;
    tab_to(&session, ALLOW).await;
    session.type_keys(keys::ENTER).await;

    let query = landed_at_the_client(&linking, &session).await;
    assert_eq!(param(&query, "state"), Some(state.as_str()), "{query:?}");
    assert_eq!(param(&query, "error"), None, "{query:?}");
    let code = param(&query, "code").expect("a code");
    let profile = linking.redeem(code).await;
    let user_id = linking.supabase.user_id_for(email).expect("the user");
    assert_eq!(profile["user_id"], user_id.to_string(), "{profile}");

    // Back to the consent page of the finished request: it is gone, and the page says so.
    session.goto(&consent_url).await;
    check_page(&session, None, "h1", 400).await;
    assert!(session.find(ALLOW).await.is_none(), "a decided request offers its decision again");
}

#[tokio::test]
async fn a_person_links_an_account_by_keyboard_on_a_phone() {
    links_an_account_by_keyboard(PHONE).await;
}

#[tokio::test]
async fn a_person_links_an_account_by_keyboard_on_a_desktop() {
    links_an_account_by_keyboard(DESKTOP).await;
}

#[tokio::test]
async fn a_wrong_code_is_announced_and_the_right_one_still_works() {
    let linking = Linking::start().await;
    for viewport in [PHONE, DESKTOP] {
        let session = linking.browser(viewport).await;
        let email = format!("grace.{}@example.com", viewport.name);
        sign_in(&linking, &session, "s", &email, true, false).await;
        let emailed = linking.supabase.last_code_for(&email).expect("a code");
        let wrong = if emailed == "000000" { "111111" } else { "000000" };
        fill_in_and_enter(&session, CODE_FIELD, wrong).await;
        session.wait_for_element("[role=alert]").await;
        check_page(&session, Some("code-wrong"), SUBMIT, 400).await;
        let alert =
            session.execute("return document.querySelector('[role=alert]').textContent.trim().length", vec![]).await;
        assert!(alert.as_u64().is_some_and(|n| n > 0), "the alert is empty");
        assert!(session.find(CODE_FIELD).await.is_some(), "the code page is shown again");

        enter_emailed_code(&linking, &session, &email).await;
        session.wait_for_element(ALLOW).await;
    }
}

#[tokio::test]
async fn deny_on_consent_lands_on_the_client_with_access_denied() {
    let linking = Linking::start().await;
    for viewport in [PHONE, DESKTOP] {
        let session = linking.browser(viewport).await;
        let email = format!("alan.{}@example.com", viewport.name);
        let state = format!("deny-{}", viewport.name);
        sign_in(&linking, &session, &state, &email, true, false).await;
        enter_emailed_code(&linking, &session, &email).await;
        session.wait_for_element(DENY).await;
        tab_to(&session, DENY).await;
        session.type_keys(keys::ENTER).await;
        let query = landed_at_the_client(&linking, &session).await;
        assert_eq!(param(&query, "error"), Some("access_denied"), "{query:?}");
        assert_eq!(param(&query, "state"), Some(state.as_str()), "{query:?}");
        assert_eq!(param(&query, "code"), None, "{query:?}");
    }
}

#[tokio::test]
async fn an_account_without_the_chatgpt_channel_is_told_how_to_enable_it() {
    let linking = Linking::start().await;
    for viewport in [PHONE, DESKTOP] {
        let session = linking.browser(viewport).await;
        let email = format!("edsger.{}@example.com", viewport.name);
        sign_in(&linking, &session, "s", &email, false, false).await;
        enter_emailed_code(&linking, &session, &email).await;
        wait_for_page(&session, "/oauth/chatgpt/consent").await;
        check_page(&session, Some("channel-disabled"), "h1", 403).await;
        assert!(session.find("button[name=decision]").await.is_none(), "no decision for a disabled channel");
        assert!(session.source().await.contains("channels.chatgpt"), "the page names the setting");
    }
}

#[tokio::test]
async fn an_unknown_or_expired_request_shows_a_page_to_start_again() {
    let linking = Linking::start().await;
    for viewport in [PHONE, DESKTOP] {
        let session = linking.browser(viewport).await;
        session.goto(&format!("{}/oauth/chatgpt/login?request={}", linking.base(), Uuid::new_v4())).await;
        wait_for_page(&session, "/oauth/chatgpt/login").await;
        check_page(&session, Some("expired"), "h1", 400).await;
        assert!(session.find("form").await.is_none(), "an expired request offers no form");
    }
}

#[tokio::test]
async fn another_browser_is_told_to_continue_in_the_one_it_started_in() {
    let linking = Linking::start().await;
    for viewport in [PHONE, DESKTOP] {
        let started = linking.browser(viewport).await;
        started.goto(&linking.authorize_url("s")).await;
        started.wait_for_element(EMAIL_FIELD).await;
        let login_url = started.url().await;

        let other = linking.browser(viewport).await;
        other.goto(&login_url).await;
        wait_for_page(&other, "/oauth/chatgpt/login").await;
        check_page(&other, Some("other-browser"), "h1", 403).await;
        assert!(other.find(EMAIL_FIELD).await.is_none(), "the other browser is not asked for an email");

        // The browser that started it goes on as before.
        let email = format!("barbara.{}@example.com", viewport.name);
        fill_in_and_enter(&started, EMAIL_FIELD, &email).await;
        started.wait_for_element(CODE_FIELD).await;
    }
}

#[tokio::test]
#[should_panic(expected = "Run scripts/test (it installs them)")]
async fn without_chromedriver_the_browser_tests_fail_saying_how_to_install_it() {
    Chromedriver::start_at(Path::new("/nonexistent/chromedriver"), Path::new(CHROMIUM)).await;
}
