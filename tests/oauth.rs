//! Linking a Dexter account from ChatGPT, end to end over HTTP. The `oauth2` crate plays
//! ChatGPT's server (authorization URL, code exchange with client_secret_basic, refresh,
//! RFC 7009 revocation); [`Browser`] plays the person; Turnstile's siteverify and
//! Supabase Auth are local stand-ins speaking their real wire contracts.

use std::sync::Arc;

use oauth2::basic::BasicClient;
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet, EndpointSet, RedirectUrl,
    RefreshToken, RevocationUrl, Scope, TokenResponse, TokenUrl,
};
use serde_json::{Value, json};
use shared::UserId;
use shared::store::Store;
use shared::store::memory::MemoryStore;
use testkit::app::{Options, REDIRECT_URI, TestApp, spawn_app};
use testkit::browser::{Browser, Page};
use testkit::db::TestDatabase;
use uuid::Uuid;

type Gpt = BasicClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointSet, EndpointSet>;
type Tokens = oauth2::basic::BasicTokenResponse;

/// ChatGPT's HTTP client for the `oauth2` crate: reqwest, no redirects.
async fn chatgpt_http(request: oauth2::HttpRequest) -> Result<oauth2::HttpResponse, reqwest::Error> {
    let client = shared::tls::client_builder().redirect(reqwest::redirect::Policy::none()).build()?;
    let (parts, body) = request.into_parts();
    let response = client.request(parts.method, parts.uri.to_string()).headers(parts.headers).body(body).send().await?;
    let mut builder = http::Response::builder().status(response.status());
    for (name, value) in response.headers() {
        builder = builder.header(name, value);
    }
    Ok(builder.body(response.bytes().await?.to_vec()).expect("a valid response"))
}

async fn gpt(app: &TestApp) -> Gpt {
    BasicClient::new(ClientId::new(app.client_id().await.into_string()))
        .set_client_secret(ClientSecret::new(app.client_secret.clone()))
        .set_auth_uri(AuthUrl::new(format!("{}/oauth/chatgpt/authorize", app.base_url)).unwrap())
        .set_token_uri(TokenUrl::new(format!("{}/oauth/chatgpt/token", app.base_url)).unwrap())
        .set_revocation_url(RevocationUrl::new(format!("{}/oauth/chatgpt/revoke", app.base_url)).unwrap())
        .set_redirect_uri(RedirectUrl::new(REDIRECT_URI.into()).unwrap())
}

fn unique_email() -> String {
    format!("trader-{}@example.com", &Uuid::new_v4().simple().to_string()[..10])
}

/// Clicks Connect in ChatGPT and signs in up to the consent page. Returns the consent
/// page, the `state` ChatGPT sent and the Supabase user id.
async fn sign_in(
    app: &TestApp,
    gpt: &Gpt,
    browser: &mut Browser,
    email: &str,
    chatgpt_enabled: bool,
) -> (Page, CsrfToken, UserId) {
    let (url, state) = gpt
        .authorize_url(CsrfToken::new_random)
        .add_scopes(["mcp:invoke", "wallet:read", "profile"].map(|s| Scope::new(s.into())))
        .url();
    let to_login = browser.get(url.as_str()).await;
    assert_eq!(to_login.status, 303, "{}", to_login.body);
    let login = browser.get(&format!("{}{}", app.base_url, to_login.location.unwrap())).await;
    assert_eq!(login.status, 200);
    assert!(login.body.contains("cf-turnstile") && login.body.contains("challenges.cloudflare.com"));
    assert_eq!(login.headers["x-frame-options"], "DENY");
    let (request, csrf) = (login.field("request"), login.field("csrf"));

    let turnstile = app.siteverify.issue_token();
    let code_page = browser
        .post_form(
            &format!("{}/oauth/chatgpt/login", app.base_url),
            &[("request", &request), ("csrf", &csrf), ("email", email), ("cf-turnstile-response", &turnstile)],
        )
        .await;
    assert_eq!(code_page.status, 200, "{}", code_page.body);
    assert!(code_page.body.contains("Check your email"));
    let user_id = app.supabase.user_id_for(email).expect("Supabase knows the user");
    app.give_profile(user_id, email, "pro", chatgpt_enabled).await;

    let code = app.supabase.last_code_for(email).expect("an emailed code");
    let to_consent = browser
        .post_form(
            &format!("{}/oauth/chatgpt/callback", app.base_url),
            &[("request", &request), ("csrf", &csrf), ("code", &code)],
        )
        .await;
    assert_eq!(to_consent.status, 303, "{}", to_consent.body);
    let consent = browser.get(&format!("{}{}", app.base_url, to_consent.location.unwrap())).await;
    (consent, state, user_id)
}

/// Signs in, allows, and exchanges the code like ChatGPT's server does.
async fn link(app: &TestApp, gpt: &Gpt, email: &str) -> (Tokens, UserId) {
    let mut browser = Browser::default();
    let (consent, state, user_id) = sign_in(app, gpt, &mut browser, email, true).await;
    assert_eq!(consent.status, 200, "{}", consent.body);
    assert!(consent.body.contains("Dexter Console (GPT)"));
    for scope in ["mcp:invoke", "wallet:read", "profile"] {
        assert!(consent.body.contains(scope), "consent page lacks {scope}");
    }
    let back = browser
        .post_form(
            &format!("{}/oauth/chatgpt/consent", app.base_url),
            &[("request", &consent.field("request")), ("csrf", &consent.field("csrf")), ("decision", "allow")],
        )
        .await;
    assert_eq!(back.status, 303);
    assert!(back.location.as_deref().unwrap().starts_with(REDIRECT_URI));
    assert_eq!(back.redirect_param("state").as_deref(), Some(state.secret().as_str()));
    let code = back.redirect_param("code").expect("a code");
    let tokens =
        gpt.exchange_code(AuthorizationCode::new(code)).request_async(&chatgpt_http).await.expect("code exchange");
    (tokens, user_id)
}

async fn get_profile(app: &TestApp, access_token: &str) -> (u16, Value) {
    let response = shared::tls::client()
        .get(format!("{}/connector/chatgpt/get_profile", app.base_url))
        .bearer_auth(access_token)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    if status == 401 {
        assert!(response.headers()["www-authenticate"].to_str().unwrap().starts_with("Bearer"));
    }
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn refresh(gpt: &Gpt, token: &RefreshToken) -> Result<Tokens, String> {
    gpt.exchange_refresh_token(token).request_async(&chatgpt_http).await.map_err(|e| match e {
        oauth2::RequestTokenError::ServerResponse(r) => r.error().to_string(),
        other => other.to_string(),
    })
}

async fn link_act_refresh_and_revoke(store: Arc<dyn Store>) {
    let app = spawn_app(store, Options::default()).await;
    let gpt = gpt(&app).await;
    let (tokens, user_id) = link(&app, &gpt, &unique_email()).await;
    assert_eq!(tokens.token_type().as_ref(), "bearer");
    assert_eq!(tokens.expires_in(), Some(std::time::Duration::from_secs(3600)));
    assert_eq!(app.siteverify.calls(), 1, "the Turnstile token is verified exactly once");

    let (status, profile) = get_profile(&app, tokens.access_token().secret()).await;
    assert_eq!(status, 200, "{profile}");
    assert_eq!(profile["user_id"], user_id.to_string());
    assert_eq!(profile["tier"], "pro");

    // Refresh rotates: rt1 → rt2 → rt3; each new access token works.
    let rt1 = tokens.refresh_token().unwrap().clone();
    let second = refresh(&gpt, &rt1).await.expect("first refresh");
    let rt2 = second.refresh_token().unwrap().clone();
    assert_ne!(rt1.secret(), rt2.secret());
    assert_eq!(get_profile(&app, second.access_token().secret()).await.0, 200);
    let third = refresh(&gpt, &rt2).await.expect("second refresh");

    // rt1 again, after its successor was used: theft. The whole grant dies.
    assert_eq!(refresh(&gpt, &rt1).await.unwrap_err(), "invalid_grant");
    assert_eq!(get_profile(&app, third.access_token().secret()).await.0, 401);
    assert_eq!(refresh(&gpt, third.refresh_token().unwrap()).await.unwrap_err(), "invalid_grant");

    // A fresh link, revoked by ChatGPT through RFC 7009.
    let (tokens, _) = link(&app, &gpt, &unique_email()).await;
    assert_eq!(get_profile(&app, tokens.access_token().secret()).await.0, 200);
    // The oauth2 crate refuses a plain-http revocation URL (RFC 7009 §2 requires TLS), so
    // this one request is built by hand, exactly as the crate would send it over https.
    let revoked = shared::tls::client()
        .post(format!("{}/oauth/chatgpt/revoke", app.base_url))
        .basic_auth(app.client_id().await, Some(&app.client_secret))
        .form(&[("token", tokens.refresh_token().unwrap().secret().as_str()), ("token_type_hint", "refresh_token")])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    let (status, body) = get_profile(&app, tokens.access_token().secret()).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"], "invalid_token");
    assert!(body["request_id"].is_string());
    assert_eq!(refresh(&gpt, tokens.refresh_token().unwrap()).await.unwrap_err(), "invalid_grant");
}

#[tokio::test]
async fn chatgpt_links_an_account_calls_an_action_refreshes_and_revokes_on_memory() {
    link_act_refresh_and_revoke(Arc::new(MemoryStore::new())).await;
}

#[tokio::test]
async fn chatgpt_links_an_account_calls_an_action_refreshes_and_revokes_on_postgres() {
    let (_db, store) = TestDatabase::migrated().await;
    link_act_refresh_and_revoke(Arc::new(store)).await;
}

#[tokio::test]
async fn a_retried_refresh_within_the_grace_window_still_succeeds() {
    let app = spawn_app(Arc::new(MemoryStore::new()), Options::default()).await;
    let gpt = gpt(&app).await;
    let (tokens, _) = link(&app, &gpt, &unique_email()).await;
    let rt1 = tokens.refresh_token().unwrap().clone();
    let lost = refresh(&gpt, &rt1).await.expect("first refresh, whose answer ChatGPT never saw");
    let retried = refresh(&gpt, &rt1).await.expect("the retry succeeds");
    assert_eq!(get_profile(&app, retried.access_token().secret()).await.0, 200);
    // ChatGPT keeps the retry's answer, and its refresh token works.
    refresh(&gpt, retried.refresh_token().unwrap()).await.expect("the retry's token works");
    // The lost answer's token is superseded now: it no longer refreshes.
    assert_eq!(refresh(&gpt, lost.refresh_token().unwrap()).await.unwrap_err(), "invalid_grant");
}

#[tokio::test]
async fn a_replayed_authorization_code_revokes_the_grant_it_created() {
    let app = spawn_app(Arc::new(MemoryStore::new()), Options::default()).await;
    let gpt = gpt(&app).await;
    let mut browser = Browser::default();
    let (consent, _, _) = sign_in(&app, &gpt, &mut browser, &unique_email(), true).await;
    let back = browser
        .post_form(
            &format!("{}/oauth/chatgpt/consent", app.base_url),
            &[("request", &consent.field("request")), ("csrf", &consent.field("csrf")), ("decision", "allow")],
        )
        .await;
    let code = AuthorizationCode::new(back.redirect_param("code").unwrap());
    let first = gpt.exchange_code(code.clone()).request_async(&chatgpt_http).await.expect("first use");
    assert_eq!(get_profile(&app, first.access_token().secret()).await.0, 200);
    let second = gpt.exchange_code(code).request_async(&chatgpt_http).await;
    assert!(
        matches!(second, Err(oauth2::RequestTokenError::ServerResponse(ref r)) if r.error().to_string() == "invalid_grant")
    );
    assert_eq!(get_profile(&app, first.access_token().secret()).await.0, 401, "the replay revoked the grant");
}

#[tokio::test]
async fn deny_sends_access_denied_back_to_chatgpt() {
    let app = spawn_app(Arc::new(MemoryStore::new()), Options::default()).await;
    let gpt = gpt(&app).await;
    let mut browser = Browser::default();
    let (consent, state, _) = sign_in(&app, &gpt, &mut browser, &unique_email(), true).await;
    let form = [("request", consent.field("request")), ("csrf", consent.field("csrf")), ("decision", "deny".into())];
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let back = browser.post_form(&format!("{}/oauth/chatgpt/consent", app.base_url), &form).await;
    assert_eq!(back.redirect_param("error").as_deref(), Some("access_denied"));
    assert_eq!(back.redirect_param("state").as_deref(), Some(state.secret().as_str()));
    assert_eq!(back.redirect_param("code"), None);
    // The decision is final: submitting again finds nothing.
    let again = browser.post_form(&format!("{}/oauth/chatgpt/consent", app.base_url), &form).await;
    assert_eq!(again.status, 400);
    assert!(again.location.is_none());
}

#[tokio::test]
async fn an_account_without_the_chatgpt_channel_is_told_how_to_enable_it_and_gets_no_code() {
    let app = spawn_app(Arc::new(MemoryStore::new()), Options::default()).await;
    let gpt = gpt(&app).await;
    let mut browser = Browser::default();
    let (consent, _, _) = sign_in(&app, &gpt, &mut browser, &unique_email(), false).await;
    assert_eq!(consent.status, 403);
    assert!(consent.body.contains("channels.chatgpt"));
    assert!(!consent.body.contains("name=\"decision\""));
}

#[tokio::test]
async fn a_magic_link_completes_the_sign_in_in_the_same_browser_only() {
    let app = spawn_app(Arc::new(MemoryStore::new()), Options::default()).await;
    let gpt = gpt(&app).await;
    let email = unique_email();
    let mut browser = Browser::default();
    let (url, _) = gpt.authorize_url(CsrfToken::new_random).add_scope(Scope::new("profile".into())).url();
    let to_login = browser.get(url.as_str()).await;
    let login = browser.get(&format!("{}{}", app.base_url, to_login.location.unwrap())).await;
    let turnstile = app.siteverify.issue_token();
    browser
        .post_form(
            &format!("{}/oauth/chatgpt/login", app.base_url),
            &[
                ("request", &login.field("request")),
                ("csrf", &login.field("csrf")),
                ("email", &email),
                ("cf-turnstile-response", &turnstile),
            ],
        )
        .await;
    let (redirect_to, token_hash) = app.supabase.last_magic_link_for(&email).expect("a magic link");
    assert!(redirect_to.starts_with(&format!("{}/oauth/chatgpt/callback?request=", app.base_url)));
    let link = format!("{redirect_to}&token_hash={token_hash}&type=magiclink");

    let mut other_browser = Browser::default();
    let elsewhere = other_browser.get(&link).await;
    assert_eq!(elsewhere.status, 403, "a link opened in another browser does not sign that browser in");

    let done = browser.get(&link).await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert!(done.location.unwrap().starts_with("/oauth/chatgpt/consent?request="));
}

#[tokio::test]
async fn supabase_can_verify_the_turnstile_token_instead_of_the_connector() {
    let app =
        spawn_app(Arc::new(MemoryStore::new()), Options { supabase_verifies_captcha: true, ..Options::default() })
            .await;
    let gpt = gpt(&app).await;
    let (tokens, _) = link(&app, &gpt, &unique_email()).await;
    assert_eq!(get_profile(&app, tokens.access_token().secret()).await.0, 200);
    assert_eq!(app.siteverify.calls(), 1, "Supabase verified the token; the connector did not verify it again");
}

#[tokio::test]
async fn a_spent_turnstile_token_is_refused() {
    let app = spawn_app(Arc::new(MemoryStore::new()), Options::default()).await;
    let gpt = gpt(&app).await;
    let mut browser = Browser::default();
    let (url, _) = gpt.authorize_url(CsrfToken::new_random).url();
    let to_login = browser.get(url.as_str()).await;
    let login = browser.get(&format!("{}{}", app.base_url, to_login.location.unwrap())).await;
    let turnstile = app.siteverify.issue_token();
    let post = |email: String| {
        let fields = vec![
            ("request".to_owned(), login.field("request")),
            ("csrf".to_owned(), login.field("csrf")),
            ("email".to_owned(), email),
            ("cf-turnstile-response".to_owned(), turnstile.clone()),
        ];
        fields
    };
    let first: Vec<(String, String)> = post(unique_email());
    let first: Vec<(&str, &str)> = first.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(browser.post_form(&format!("{}/oauth/chatgpt/login", app.base_url), &first).await.status, 200);
    let second: Vec<(String, String)> = post(unique_email());
    let second: Vec<(&str, &str)> = second.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let refused = browser.post_form(&format!("{}/oauth/chatgpt/login", app.base_url), &second).await;
    assert_eq!(refused.status, 400);
    assert!(refused.body.contains("human check failed"));
}

#[tokio::test]
async fn authorize_shows_a_page_instead_of_redirecting_to_an_untrusted_address() {
    let app = spawn_app(Arc::new(MemoryStore::new()), Options::default()).await;
    let client_id = app.client_id().await;
    let mut browser = Browser::default();
    let base = format!("{}/oauth/chatgpt/authorize?response_type=code&state=xyz&scope=profile", app.base_url);
    let enc = |s: &str| s.replace(':', "%3A").replace('/', "%2F");
    for (what, url) in [
        ("unknown client", format!("{base}&client_id=nobody&redirect_uri={}", enc(REDIRECT_URI))),
        (
            "unregistered redirect",
            format!("{base}&client_id={client_id}&redirect_uri={}", enc("https://evil.example/cb")),
        ),
        (
            "prefix of a registered redirect",
            format!("{base}&client_id={client_id}&redirect_uri={}", enc(&format!("{REDIRECT_URI}/x"))),
        ),
        ("no redirect", format!("{base}&client_id={client_id}")),
    ] {
        let page = browser.get(&url).await;
        assert_eq!(page.status, 400, "{what}");
        assert!(page.location.is_none(), "{what} redirected");
        assert!(page.headers["content-type"].to_str().unwrap().starts_with("text/html"), "{what}");
    }

    let ok = format!("client_id={client_id}&redirect_uri={}", enc(REDIRECT_URI));
    let root = format!("{}/oauth/chatgpt/authorize", app.base_url);
    for (what, query, error, state) in [
        ("missing state", format!("{ok}&response_type=code"), "invalid_request", None),
        ("token flow", format!("{ok}&response_type=token&state=s1"), "unsupported_response_type", Some("s1")),
        (
            "unknown scope",
            format!("{ok}&response_type=code&state=s2&scope=wallet%3Awrite"),
            "invalid_scope",
            Some("s2"),
        ),
    ] {
        let page = browser.get(&format!("{root}?{query}")).await;
        assert_eq!(page.status, 303, "{what}");
        assert!(page.location.as_deref().unwrap().starts_with(REDIRECT_URI), "{what}");
        assert_eq!(page.redirect_param("error").as_deref(), Some(error), "{what}");
        assert_eq!(page.redirect_param("state").as_deref(), state, "{what}");
    }
}

#[tokio::test]
async fn the_flow_cannot_continue_in_another_browser_or_without_its_form_secret() {
    let app = spawn_app(Arc::new(MemoryStore::new()), Options::default()).await;
    let gpt = gpt(&app).await;
    let mut browser = Browser::default();
    let (url, _) = gpt.authorize_url(CsrfToken::new_random).url();
    let to_login = browser.get(url.as_str()).await;
    let login_url = format!("{}{}", app.base_url, to_login.location.unwrap());
    let login = browser.get(&login_url).await;
    let form = |csrf: &str| {
        vec![
            ("request".to_owned(), login.field("request")),
            ("csrf".to_owned(), csrf.to_owned()),
            ("email".to_owned(), unique_email()),
            ("cf-turnstile-response".to_owned(), app.siteverify.issue_token()),
        ]
    };
    let forged: Vec<(String, String)> = form("not-the-secret");
    let forged: Vec<(&str, &str)> = forged.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(browser.post_form(&format!("{}/oauth/chatgpt/login", app.base_url), &forged).await.status, 403);

    let mut other = Browser::default();
    assert_eq!(other.get(&login_url).await.status, 403);
    let genuine: Vec<(String, String)> = form(&login.field("csrf"));
    let genuine: Vec<(&str, &str)> = genuine.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(other.post_form(&format!("{}/oauth/chatgpt/login", app.base_url), &genuine).await.status, 403);
    assert_eq!(app.siteverify.calls(), 0, "nothing was verified or sent for a refused request");
}

#[tokio::test]
async fn the_token_endpoint_speaks_rfc_6749_to_every_client_style() {
    let app = spawn_app(Arc::new(MemoryStore::new()), Options::default()).await;
    let client_id = app.client_id().await;
    let gpt = gpt(&app).await;
    let http = shared::tls::client();
    let token_url = format!("{}/oauth/chatgpt/token", app.base_url);

    // client_secret_post, then a JSON body.
    let (tokens, _) = link(&app, &gpt, &unique_email()).await;
    let post = gpt.clone().set_auth_type(AuthType::RequestBody);
    let refreshed = refresh(&post, tokens.refresh_token().unwrap()).await.expect("client_secret_post works");
    let json_refresh = http
        .post(&token_url)
        .json(&json!({
            "grant_type": "refresh_token", "refresh_token": refreshed.refresh_token().unwrap().secret(),
            "client_id": client_id, "client_secret": app.client_secret,
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(json_refresh.status(), 200);
    assert_eq!(json_refresh.headers()["cache-control"], "no-store");

    let cases: Vec<(&str, reqwest::RequestBuilder, u16, &str)> = vec![
        (
            "wrong secret over Basic",
            http.post(&token_url)
                .basic_auth(&client_id, Some("dxcs_wrong"))
                .form(&[("grant_type", "refresh_token"), ("refresh_token", "x")]),
            401,
            "invalid_client",
        ),
        (
            "unknown client in the body",
            http.post(&token_url).form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", "x"),
                ("client_id", "nobody"),
                ("client_secret", "s"),
            ]),
            401,
            "invalid_client",
        ),
        (
            "unsupported grant",
            http.post(&token_url).basic_auth(&client_id, Some(&app.client_secret)).form(&[("grant_type", "password")]),
            400,
            "unsupported_grant_type",
        ),
        (
            "missing code",
            http.post(&token_url)
                .basic_auth(&client_id, Some(&app.client_secret))
                .form(&[("grant_type", "authorization_code"), ("redirect_uri", REDIRECT_URI)]),
            400,
            "invalid_request",
        ),
        (
            "unknown code",
            http.post(&token_url).basic_auth(&client_id, Some(&app.client_secret)).form(&[
                ("grant_type", "authorization_code"),
                ("code", "dxac_nope"),
                ("redirect_uri", REDIRECT_URI),
            ]),
            400,
            "invalid_grant",
        ),
        (
            "two authentication methods",
            http.post(&token_url).basic_auth(&client_id, Some(&app.client_secret)).form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", "x"),
                ("client_secret", "s"),
            ]),
            400,
            "invalid_request",
        ),
        (
            "plain text body",
            http.post(&token_url).basic_auth(&client_id, Some(&app.client_secret)).body("grant_type=refresh_token"),
            400,
            "invalid_request",
        ),
    ];
    for (what, request, status, error) in cases {
        let response = request.send().await.unwrap();
        assert_eq!(response.status().as_u16(), status, "{what}");
        assert_eq!(response.headers()["cache-control"], "no-store", "{what}");
        let basic = response.headers().get("www-authenticate").map(|v| v.to_str().unwrap().to_owned());
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], error, "{what}: {body}");
        assert!(body["error_description"].is_string() && body["request_id"].is_string(), "{what}: {body}");
        if what == "wrong secret over Basic" {
            assert!(basic.unwrap().starts_with("Basic"), "{what}");
        }
    }
}

#[tokio::test]
async fn dexter_lists_linked_accounts_and_revoking_one_cuts_chatgpt_off() {
    let app = spawn_app(Arc::new(MemoryStore::new()), Options::default()).await;
    let gpt = gpt(&app).await;
    let (tokens, user_id) = link(&app, &gpt, &unique_email()).await;
    let http = shared::tls::client();
    let session = app.dexter_session(user_id);

    let listed: Value = http
        .get(format!("{}/dexter/linked-accounts", app.base_url))
        .bearer_auth(&session)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let accounts = listed["linked_accounts"].as_array().unwrap();
    assert_eq!(accounts.len(), 1, "{listed}");
    assert_eq!(accounts[0]["client_name"], "Dexter Console (GPT)");
    assert_eq!(accounts[0]["scopes"], json!(["mcp:invoke", "wallet:read", "profile"]));
    let grant_id = accounts[0]["grant_id"].as_str().unwrap();

    // Someone else's session cannot see or revoke it; ChatGPT's token is not a session.
    let stranger = app.dexter_session(UserId::random());
    let url = format!("{}/dexter/linked-accounts/{grant_id}", app.base_url);
    assert_eq!(http.delete(&url).bearer_auth(&stranger).send().await.unwrap().status(), 404);
    assert_eq!(http.delete(&url).bearer_auth(tokens.access_token().secret()).send().await.unwrap().status(), 401);

    assert_eq!(http.delete(&url).bearer_auth(&session).send().await.unwrap().status(), 204);
    assert_eq!(http.delete(&url).bearer_auth(&session).send().await.unwrap().status(), 204, "retry-safe");
    assert_eq!(get_profile(&app, tokens.access_token().secret()).await.0, 401);
    assert_eq!(refresh(&gpt, tokens.refresh_token().unwrap()).await.unwrap_err(), "invalid_grant");
}

#[tokio::test]
async fn discovery_documents_name_the_endpoints_and_keys() {
    let app = spawn_app(Arc::new(MemoryStore::new()), Options::default()).await;
    let meta: Value = testkit::get_json(&format!("{}/.well-known/oauth-authorization-server", app.base_url)).await;
    assert_eq!(meta["issuer"], app.base_url);
    assert_eq!(meta["authorization_endpoint"], format!("{}/oauth/chatgpt/authorize", app.base_url));
    assert_eq!(meta["token_endpoint"], format!("{}/oauth/chatgpt/token", app.base_url));
    assert_eq!(meta["revocation_endpoint"], format!("{}/oauth/chatgpt/revoke", app.base_url));
    assert_eq!(meta["scopes_supported"], json!(["mcp:invoke", "wallet:read", "profile"]));
    assert_eq!(
        meta["token_endpoint_auth_methods_supported"],
        json!(["client_secret_basic", "client_secret_post", "private_key_jwt", "none"])
    );
    let jwks: Value = testkit::get_json(&format!("{}/.well-known/jwks.json", app.base_url)).await;
    assert_eq!(jwks["keys"][0]["alg"], "EdDSA");
}

#[tokio::test]
async fn connector_serve_links_the_dev_account_offline_with_the_printed_code() {
    let served = testkit::serve::start(&[("RUST_LOG".into(), "info".into())]).await;
    let base = &served.base_url;
    let secret = served.banner_secret().to_owned();
    let redirect = format!("{base}/dev/oauth/callback");
    let mut browser = Browser::default();
    let authorize = format!(
        "{base}/oauth/chatgpt/authorize?response_type=code&client_id=chatgpt-dev&state=local&scope=profile%20mcp%3Ainvoke%20wallet%3Aread&redirect_uri={}",
        redirect.replace(':', "%3A").replace('/', "%2F")
    );
    let to_login = browser.get(&authorize).await;
    assert_eq!(to_login.status, 303, "{}", to_login.body);
    let login = browser.get(&format!("{base}{}", to_login.location.unwrap())).await;
    // No Turnstile token: the widget could not load offline, and local test keys allow that.
    let code_page = browser
        .post_form(
            &format!("{base}/oauth/chatgpt/login"),
            &[("request", &login.field("request")), ("csrf", &login.field("csrf")), ("email", "dev@dexter.local")],
        )
        .await;
    assert_eq!(code_page.status, 200, "{}", code_page.body);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let logs = served.raw_logs();
    let code = logs
        .lines()
        .find_map(|l| l.strip_prefix("[dev login] one-time code for dev@dexter.local: "))
        .expect("the code is printed locally")
        .trim()
        .to_owned();
    let to_consent = browser
        .post_form(
            &format!("{base}/oauth/chatgpt/callback"),
            &[("request", &login.field("request")), ("csrf", &login.field("csrf")), ("code", &code)],
        )
        .await;
    let consent = browser.get(&format!("{base}{}", to_consent.location.expect("to consent"))).await;
    assert_eq!(consent.status, 200, "the seeded dev user has the ChatGPT channel on: {}", consent.body);
    let back = browser
        .post_form(
            &format!("{base}/oauth/chatgpt/consent"),
            &[("request", &consent.field("request")), ("csrf", &consent.field("csrf")), ("decision", "allow")],
        )
        .await;
    let code = back.redirect_param("code").expect("a code");
    let landing = browser.get(back.location.as_deref().unwrap()).await;
    assert!(landing.body.contains(&code), "the dev callback page shows the code");

    let tokens: Value = shared::tls::client()
        .post(format!("{base}/oauth/chatgpt/token"))
        .basic_auth("chatgpt-dev", Some(&secret))
        .form(&[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", &redirect)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let access = tokens["access_token"].as_str().expect("an access token");
    let profile: Value = shared::tls::client()
        .get(format!("{base}/connector/chatgpt/get_profile"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(profile["user_id"], "00000000-0000-4000-8000-00000000d3e7");
    // With no MCP_URL, the in-process sandbox serves Dexter's tools.
    let portfolio: Value = shared::tls::client()
        .get(format!("{base}/connector/chatgpt/get_portfolio"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(portfolio["wallets"].as_array().is_some_and(|w| !w.is_empty()), "{portfolio}");
    assert!(!served.raw_logs().contains(access), "an access token reached the logs");
    assert!(!served.raw_logs().contains(tokens["refresh_token"].as_str().unwrap()));
}
