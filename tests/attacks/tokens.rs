//! Attacks on codes and tokens: PKCE, mix-up (RFC 9207), code injection and replay, refresh races.
//!
//! Every attack runs against `connector serve` on a fresh Postgres database. The victim's
//! side is played by the `oauth2` crate (ChatGPT's server, as the dev client `chatgpt-dev`)
//! and a [`Browser`] signing in as the dev user with the code `connector serve` prints.
//! The attacker holds what the finding assumes (a leaked code or refresh token, its own
//! registered client) and sends its requests by hand. Each test checks the attack fails
//! and, reading the database, that it changed nothing it should not have.

use std::time::Duration;

use futures_util::future::join_all;
use oauth2::basic::BasicClient;
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet, EndpointSet, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, RefreshToken, Scope, TokenResponse, TokenUrl,
};
use serde_json::Value;
use shared::store::{ClientStore, OAuthClient};
use testkit::browser::{Browser, Page};
use testkit::db::TestDatabase;
use testkit::serve::Served;

type Gpt = BasicClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;
type Tokens = oauth2::basic::BasicTokenResponse;

const DEV_CLIENT: &str = "chatgpt-dev";
const DEV_EMAIL: &str = "dev@dexter.local";
const SCOPES: [&str; 3] = ["mcp:invoke", "wallet:read", "profile"];

/// `connector serve` on its own database, and the database to look at.
struct Connector {
    served: Served,
    db: TestDatabase,
    store: shared::store::PgStore,
}

impl Connector {
    async fn start() -> Connector {
        Connector::start_with(&[]).await
    }

    async fn start_with(extra_env: &[(&str, &str)]) -> Connector {
        let db = TestDatabase::create().await;
        let mut env = vec![("DATABASE_URL".to_owned(), db.url().to_owned())];
        env.extend(extra_env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        let served = testkit::serve::start(&env).await;
        let store = shared::store::PgStore::connect(db.url(), false).expect("store");
        Connector { served, db, store }
    }

    fn base(&self) -> &str {
        &self.served.base_url
    }

    fn redirect_uri(&self) -> String {
        format!("{}/dev/oauth/callback", self.base())
    }

    /// ChatGPT's server for the dev client, as the `oauth2` crate plays it.
    fn gpt(&self) -> Gpt {
        BasicClient::new(ClientId::new(DEV_CLIENT.into()))
            .set_client_secret(ClientSecret::new(self.served.banner_secret().to_owned()))
            .set_auth_uri(AuthUrl::new(format!("{}/oauth/chatgpt/authorize", self.base())).unwrap())
            .set_token_uri(TokenUrl::new(format!("{}/oauth/chatgpt/token", self.base())).unwrap())
            .set_redirect_uri(RedirectUrl::new(self.redirect_uri()).unwrap())
    }

    /// Registers another client straight in the database (an operator would, with the
    /// admin token); returns its id and secret.
    async fn register_client(&self, name: &str, public: bool) -> (String, String) {
        let id = format!("{name}-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
        let secret = shared::tokens::generate("dxcs_");
        self.store
            .create_client(&OAuthClient {
                id: id.clone().into(),
                name: name.into(),
                secret_hash: shared::TokenHash::of(&secret),
                previous_secret_hash: None,
                previous_secret_expires_at: None,
                redirect_uris: vec![format!("https://{name}.example/callback")],
                scopes: SCOPES.map(String::from).to_vec(),
                created_at: chrono::Utc::now(),
                public,
            })
            .await
            .expect("client");
        (id, secret)
    }

    /// One-time codes printed so far for the dev user.
    fn printed_codes(&self) -> Vec<String> {
        let prefix = format!("[dev login] one-time code for {DEV_EMAIL}: ");
        self.served.raw_logs().lines().filter_map(|l| l.strip_prefix(&prefix)).map(|c| c.trim().to_owned()).collect()
    }

    /// Follows `authorize_url` in `browser`: signs in as the dev user and answers the
    /// consent page with `decision`. Returns the redirect back to the client.
    async fn sign_in_and_decide(&self, browser: &mut Browser, authorize_url: &str, decision: &str) -> Page {
        let to_login = browser.get(authorize_url).await;
        assert_eq!(to_login.status, 303, "{}", to_login.body);
        let login = browser.get(&format!("{}{}", self.base(), to_login.location.unwrap())).await;
        assert_eq!(login.status, 200, "{}", login.body);
        let (request, csrf) = (login.field("request"), login.field("csrf"));
        let printed = self.printed_codes().len();
        // No Turnstile token: the widget cannot load offline, and local test keys allow that.
        let code_page = browser
            .post_form(
                &format!("{}/oauth/chatgpt/login", self.base()),
                &[("request", &request), ("csrf", &csrf), ("email", DEV_EMAIL)],
            )
            .await;
        assert_eq!(code_page.status, 200, "{}", code_page.body);
        let code = self.next_printed_code(printed).await;
        let to_consent = browser
            .post_form(
                &format!("{}/oauth/chatgpt/callback", self.base()),
                &[("request", &request), ("csrf", &csrf), ("code", &code)],
            )
            .await;
        assert_eq!(to_consent.status, 303, "{}", to_consent.body);
        let consent = browser.get(&format!("{}{}", self.base(), to_consent.location.unwrap())).await;
        assert_eq!(consent.status, 200, "{}", consent.body);
        let back = browser
            .post_form(
                &format!("{}/oauth/chatgpt/consent", self.base()),
                &[("request", &consent.field("request")), ("csrf", &consent.field("csrf")), ("decision", decision)],
            )
            .await;
        assert_eq!(back.status, 303, "{}", back.body);
        back
    }

    /// The code `connector serve` prints after `printed` earlier ones (stdout is read
    /// in the background, so it may take a moment to arrive).
    async fn next_printed_code(&self, printed: usize) -> String {
        for _ in 0..200 {
            if let Some(code) = self.printed_codes().get(printed) {
                return code.clone();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("connector serve printed no new one-time code: {}", self.served.raw_logs());
    }

    /// The dev user links ChatGPT's GPT (with PKCE when `pkce` is given): the code it
    /// gets back, not yet redeemed.
    async fn code_for(&self, gpt: &Gpt, pkce: Option<PkceCodeChallenge>) -> String {
        let mut request = gpt.authorize_url(CsrfToken::new_random).add_scopes(SCOPES.map(|s| Scope::new(s.into())));
        if let Some(challenge) = pkce {
            request = request.set_pkce_challenge(challenge);
        }
        let (url, state) = request.url();
        let back = self.sign_in_and_decide(&mut Browser::default(), url.as_str(), "allow").await;
        assert_eq!(back.redirect_param("state").as_deref(), Some(state.secret().as_str()));
        back.redirect_param("code").expect("a code")
    }

    /// A linked account: the tokens ChatGPT's server holds after the code exchange.
    async fn link(&self, gpt: &Gpt) -> Tokens {
        let code = self.code_for(gpt, None).await;
        gpt.exchange_code(AuthorizationCode::new(code)).request_async(&chatgpt_http).await.expect("code exchange")
    }

    /// `POST /oauth/chatgpt/token` as `client_id`:`secret` (HTTP Basic) with `form`.
    async fn token(&self, client_id: &str, secret: &str, form: &[(&str, &str)]) -> (u16, Value) {
        let response = shared::tls::client()
            .post(format!("{}/oauth/chatgpt/token", self.base()))
            .basic_auth(client_id, Some(secret))
            .form(form)
            .send()
            .await
            .expect("the token endpoint answers");
        (response.status().as_u16(), response.json().await.unwrap_or(Value::Null))
    }

    /// The status of an action called with `access_token` (200 while its grant is live).
    async fn act(&self, access_token: &str) -> u16 {
        shared::tls::client()
            .get(format!("{}/connector/chatgpt/get_profile", self.base()))
            .bearer_auth(access_token)
            .send()
            .await
            .expect("the action answers")
            .status()
            .as_u16()
    }

    async fn count(&self, sql: &str) -> i64 {
        self.db.connect().await.query_one(sql, &[]).await.expect(sql).get(0)
    }

    /// What a refused attack must leave as it was.
    async fn snapshot(&self) -> [i64; 5] {
        [
            self.count("select count(*) from connector_authorization_requests").await,
            self.count("select count(*) from connector_authorization_codes where used_at is not null").await,
            self.count("select count(*) from connector_grants").await,
            self.count("select count(*) from connector_grants where revoked_at is not null").await,
            self.count("select count(*) from connector_refresh_tokens").await,
        ]
    }

    async fn live_grants(&self) -> i64 {
        self.count("select count(*) from connector_grants where revoked_at is null").await
    }
}

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

/// The OAuth error of a failed `oauth2` request.
fn oauth_error<T>(
    result: Result<T, oauth2::RequestTokenError<reqwest::Error, oauth2::basic::BasicErrorResponse>>,
) -> String {
    match result {
        Ok(_) => "no error".into(),
        Err(oauth2::RequestTokenError::ServerResponse(r)) => r.error().to_string(),
        Err(other) => other.to_string(),
    }
}

async fn redeem(gpt: &Gpt, code: &str, verifier: Option<&str>) -> Result<Tokens, String> {
    let mut request = gpt.exchange_code(AuthorizationCode::new(code.into()));
    if let Some(verifier) = verifier {
        request = request.set_pkce_verifier(PkceCodeVerifier::new(verifier.into()));
    }
    let result = request.request_async(&chatgpt_http).await;
    match result {
        Ok(tokens) => Ok(tokens),
        Err(e) => Err(oauth_error::<Tokens>(Err(e))),
    }
}

async fn refresh(gpt: &Gpt, token: &str) -> Result<Tokens, String> {
    let result = gpt.exchange_refresh_token(&RefreshToken::new(token.into())).request_async(&chatgpt_http).await;
    match result {
        Ok(tokens) => Ok(tokens),
        Err(e) => Err(oauth_error::<Tokens>(Err(e))),
    }
}

fn refresh_token_of(tokens: &Tokens) -> String {
    tokens.refresh_token().expect("a refresh token").secret().clone()
}

/// The authorization URL of the dev client with these parameters.
fn authorize_url(connector: &Connector, extra: &[(&str, &str)]) -> String {
    let mut url = reqwest::Url::parse(&format!("{}/oauth/chatgpt/authorize", connector.base())).unwrap();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", DEV_CLIENT)
        .append_pair("redirect_uri", &connector.redirect_uri())
        .append_pair("scope", &SCOPES.join(" "))
        .append_pair("state", "attacker-state")
        .extend_pairs(extra);
    url.into()
}

// --- PKCE (RFC 7636; RFC 9700 §2.1.1) ---

/// Code injection: the attacker has the victim's code (from a log, a Referer, history)
/// and plays it into their own session with the same GPT, which redeems it with the
/// attacker session's verifier. The server refuses, and the code still works for the
/// victim's session, with the victim's verifier.
#[tokio::test]
async fn a_victims_code_redeemed_with_the_attackers_verifier_fails() {
    let connector = Connector::start().await;
    let gpt = connector.gpt();
    let (victim_challenge, victim_verifier) = PkceCodeChallenge::new_random_sha256();
    let victims_code = connector.code_for(&gpt, Some(victim_challenge)).await;
    let before = connector.snapshot().await;

    let (_, attackers_verifier) = PkceCodeChallenge::new_random_sha256();
    let injected = redeem(&gpt, &victims_code, Some(attackers_verifier.secret())).await;
    assert_eq!(injected.unwrap_err(), "invalid_grant");
    assert_eq!(connector.snapshot().await, before, "the refused redemption changed nothing");

    let victims = redeem(&gpt, &victims_code, Some(victim_verifier.secret())).await.expect("the victim's redemption");
    assert_eq!(connector.act(victims.access_token().secret()).await, 200);
}

/// Downgrades at `/authorize`: `plain`, a challenge without a method (RFC 7636 reads it
/// as `plain`), a malformed challenge and an unknown method are refused back to the
/// client with `invalid_request`, and no request is stored.
#[tokio::test]
async fn pkce_downgrades_at_authorize_are_refused() {
    let connector = Connector::start().await;
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let before = connector.snapshot().await;
    let attempts: [&[(&str, &str)]; 6] = [
        &[("code_challenge", verifier.secret()), ("code_challenge_method", "plain")],
        &[("code_challenge", verifier.secret())],
        &[("code_challenge", "too-short"), ("code_challenge_method", "S256")],
        &[("code_challenge", &format!("{}+/=", challenge.as_str())), ("code_challenge_method", "S256")],
        &[("code_challenge", challenge.as_str()), ("code_challenge_method", "S512")],
        &[("code_challenge_method", "S256")],
    ];
    for params in attempts {
        let page = Browser::default().get(&authorize_url(&connector, params)).await;
        assert_eq!(page.status, 303, "{params:?}: {}", page.body);
        assert!(page.location.as_deref().unwrap().starts_with(&connector.redirect_uri()), "{params:?}");
        assert_eq!(page.redirect_param("error").as_deref(), Some("invalid_request"), "{params:?}");
        assert_eq!(page.redirect_param("state").as_deref(), Some("attacker-state"));
        assert_eq!(page.redirect_param("iss").as_deref(), Some(connector.base()), "RFC 9207 on errors too");
        assert_eq!(page.redirect_param("code"), None);
    }
    assert_eq!(connector.snapshot().await, before, "no authorization request was stored");

    // The same request with S256 proceeds to sign-in.
    let accepted = Browser::default()
        .get(&authorize_url(&connector, &[("code_challenge", challenge.as_str()), ("code_challenge_method", "S256")]))
        .await;
    assert_eq!(accepted.status, 303);
    assert!(accepted.location.as_deref().unwrap().starts_with("/oauth/chatgpt/login?request="));
}

/// Downgrade at `/token`: an attacker holding a PKCE-bound code strips the verifier (or
/// sends the challenge itself, as `plain` would). Refused; the code stays redeemable by
/// its verifier.
#[tokio::test]
async fn a_pkce_code_without_its_verifier_is_refused() {
    let connector = Connector::start().await;
    let gpt = connector.gpt();
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let code = connector.code_for(&gpt, Some(challenge.clone())).await;
    let before = connector.snapshot().await;

    assert_eq!(redeem(&gpt, &code, None).await.unwrap_err(), "invalid_grant");
    assert_eq!(redeem(&gpt, &code, Some(challenge.as_str())).await.unwrap_err(), "invalid_grant");
    assert_eq!(connector.snapshot().await, before, "the refused redemptions changed nothing");

    let tokens = redeem(&gpt, &code, Some(verifier.secret())).await.expect("the verifier redeems the code");
    assert_eq!(connector.act(tokens.access_token().secret()).await, 200);
}

/// RFC 9700 §2.1.1's downgrade defence: a `code_verifier` for a code that was requested
/// without a challenge is refused (it shows the request's challenge was stripped), and
/// the code stays redeemable as it was issued.
#[tokio::test]
async fn a_verifier_for_a_code_without_a_challenge_is_refused() {
    let connector = Connector::start().await;
    let gpt = connector.gpt();
    let code = connector.code_for(&gpt, None).await;
    let before = connector.snapshot().await;

    let (_, verifier) = PkceCodeChallenge::new_random_sha256();
    assert_eq!(redeem(&gpt, &code, Some(verifier.secret())).await.unwrap_err(), "invalid_grant");
    assert_eq!(connector.snapshot().await, before);

    let tokens = redeem(&gpt, &code, None).await.expect("the confidential client redeems without PKCE");
    assert_eq!(connector.act(tokens.access_token().secret()).await, 200);
}

/// A public client cannot keep a secret, so PKCE is all that binds its code: its
/// authorization request without an S256 challenge (or with `plain`) is refused.
#[tokio::test]
async fn a_public_clients_request_without_pkce_is_refused() {
    let connector = Connector::start().await;
    let (client_id, _) = connector.register_client("public-app", true).await;
    let redirect_uri = "https://public-app.example/callback";
    let url = |extra: &[(&str, &str)]| {
        let mut url = reqwest::Url::parse(&format!("{}/oauth/chatgpt/authorize", connector.base())).unwrap();
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &client_id)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("state", "s")
            .extend_pairs(extra);
        url.to_string()
    };
    let before = connector.snapshot().await;
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    for extra in [&[][..], &[("code_challenge", verifier.secret().as_str()), ("code_challenge_method", "plain")][..]] {
        let page = Browser::default().get(&url(extra)).await;
        assert_eq!(page.status, 303, "{}", page.body);
        assert!(page.location.as_deref().unwrap().starts_with(redirect_uri));
        assert_eq!(page.redirect_param("error").as_deref(), Some("invalid_request"));
        assert_eq!(page.redirect_param("iss").as_deref(), Some(connector.base()));
    }
    assert_eq!(connector.snapshot().await, before);

    let page = Browser::default()
        .get(&url(&[("code_challenge", challenge.as_str()), ("code_challenge_method", "S256")]))
        .await;
    assert!(page.location.as_deref().unwrap().starts_with("/oauth/chatgpt/login?request="), "{:?}", page.location);
}

/// The metadata advertises what the server enforces.
#[tokio::test]
async fn the_metadata_advertises_s256_and_rfc_9207() {
    let connector = Connector::start().await;
    let meta = testkit::get_json(&format!("{}/.well-known/oauth-authorization-server", connector.base())).await;
    assert_eq!(meta["code_challenge_methods_supported"], serde_json::json!(["S256"]));
    assert_eq!(meta["authorization_response_iss_parameter_supported"], true);
    assert_eq!(meta["issuer"], connector.base());
}

// --- RFC 9207: mix-up ---

/// A client talking to several authorization servers can only tell which one answered
/// (and so where the code may go) by `iss`: every authorization response carries it,
/// allow and deny alike.
#[tokio::test]
async fn authorization_responses_name_the_issuer() {
    let connector = Connector::start().await;
    let gpt = connector.gpt();
    let (url, _) = gpt.authorize_url(CsrfToken::new_random).add_scopes(SCOPES.map(|s| Scope::new(s.into()))).url();
    let allowed = connector.sign_in_and_decide(&mut Browser::default(), url.as_str(), "allow").await;
    assert!(allowed.redirect_param("code").is_some());
    assert_eq!(allowed.redirect_param("iss").as_deref(), Some(connector.base()));

    let (url, _) = gpt.authorize_url(CsrfToken::new_random).url();
    let denied = connector.sign_in_and_decide(&mut Browser::default(), url.as_str(), "deny").await;
    assert_eq!(denied.redirect_param("error").as_deref(), Some("access_denied"));
    assert_eq!(denied.redirect_param("iss").as_deref(), Some(connector.base()));

    let unsupported = Browser::default().get(&authorize_url(&connector, &[]).replace("code", "token")).await;
    assert_eq!(unsupported.redirect_param("error").as_deref(), Some("unsupported_response_type"));
    assert_eq!(unsupported.redirect_param("iss").as_deref(), Some(connector.base()));
}

// --- Code redemption ---

/// Another registered client, authenticating properly, presents a victim's code: it gets
/// `invalid_grant` and cannot burn the code; nor can the rightful client with the wrong
/// redirect URI. The rightful client then redeems it.
#[tokio::test]
async fn another_client_can_neither_redeem_nor_burn_a_code() {
    let connector = Connector::start().await;
    let gpt = connector.gpt();
    let code = connector.code_for(&gpt, None).await;
    let (attacker, attacker_secret) = connector.register_client("attacker", false).await;
    let before = connector.snapshot().await;

    for redirect_uri in [connector.redirect_uri(), "https://attacker.example/callback".into()] {
        let (status, body) = connector
            .token(
                &attacker,
                &attacker_secret,
                &[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", &redirect_uri)],
            )
            .await;
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");
    }
    let (status, body) = connector
        .token(
            DEV_CLIENT,
            connector.served.banner_secret(),
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", "https://chatgpt.com/aip/g-dev/oauth/callback"),
            ],
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "another registered redirect URI: {body}"
    );
    assert_eq!(connector.snapshot().await, before, "the code is unspent and no grant was made");

    let tokens = redeem(&gpt, &code, None).await.expect("the rightful client still redeems its code");
    assert_eq!(connector.act(tokens.access_token().secret()).await, 200);
}

/// A leaked code redeemed concurrently with the rightful client (eight at once): exactly
/// one redemption succeeds, and the rest, as replays, revoke the grant it made, however
/// the race falls.
#[tokio::test]
async fn concurrent_redemptions_of_one_code_succeed_once_and_revoke_the_grant() {
    let connector = Connector::start().await;
    let gpt = connector.gpt();
    let code = connector.code_for(&gpt, None).await;
    let secret = connector.served.banner_secret().to_owned();
    let redirect_uri = connector.redirect_uri();
    let form = [("grant_type", "authorization_code"), ("code", code.as_str()), ("redirect_uri", redirect_uri.as_str())];
    let answers = join_all((0..8).map(|_| connector.token(DEV_CLIENT, &secret, &form))).await;

    let winners: Vec<&Value> = answers.iter().filter(|(status, _)| *status == 200).map(|(_, body)| body).collect();
    assert_eq!(winners.len(), 1, "exactly one redemption succeeds: {answers:?}");
    for (status, body) in answers.iter().filter(|(status, _)| *status != 200) {
        assert_eq!((*status, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");
    }
    let access = winners[0]["access_token"].as_str().expect("an access token");
    assert_eq!(connector.act(access).await, 401, "the replays revoked the grant");
    assert_eq!(connector.live_grants().await, 0);
    let refresh_token = winners[0]["refresh_token"].as_str().expect("a refresh token");
    assert_eq!(refresh(&gpt, refresh_token).await.unwrap_err(), "invalid_grant");
}

// --- Refresh retries and races ---

/// ChatGPT refreshes in storms: six concurrent refreshes with one token. Every answer
/// works, and whichever refresh token the client stores (the first answer or the last)
/// refreshes again; the link stays up.
#[tokio::test]
async fn concurrent_refreshes_with_one_token_leave_the_kept_token_working() {
    let connector = Connector::start().await;
    let gpt = connector.gpt();
    for keep_last in [true, false] {
        let tokens = connector.link(&gpt).await;
        let stored = refresh_token_of(&tokens);
        let answers = join_all((0..6).map(|_| refresh(&gpt, &stored))).await;
        let answers: Vec<Tokens> =
            answers.into_iter().map(|a| a.expect("every refresh of the storm succeeds")).collect();
        for answer in &answers {
            assert_eq!(connector.act(answer.access_token().secret()).await, 200);
        }
        let kept = if keep_last { answers.last() } else { answers.first() }.expect("answers");
        let next = refresh(&gpt, &refresh_token_of(kept)).await.expect("the stored token refreshes");
        assert_eq!(connector.act(next.access_token().secret()).await, 200, "the link stays up");
        refresh(&gpt, &refresh_token_of(&next)).await.expect("and keeps rotating");
    }
    assert_eq!(connector.live_grants().await, 2);
}

/// A retry within the grace window made a second successor; the client kept and used the
/// retry's. The first successor is remembered as superseded: when it turns up later (a
/// stale worker, or someone who captured it), that is reuse, and the grant is revoked.
#[tokio::test]
async fn a_superseded_refresh_token_presented_later_revokes_the_grant() {
    let connector = Connector::start().await;
    let gpt = connector.gpt();
    let tokens = connector.link(&gpt).await;
    let first = refresh_token_of(&tokens);
    let lost = refresh(&gpt, &first).await.expect("a refresh whose answer was lost");
    let retried = refresh(&gpt, &first).await.expect("its retry");
    let kept = refresh(&gpt, &refresh_token_of(&retried)).await.expect("the client uses the retry's token");
    assert_eq!(connector.act(kept.access_token().secret()).await, 200);

    assert_eq!(refresh(&gpt, &refresh_token_of(&lost)).await.unwrap_err(), "invalid_grant");
    assert_eq!(connector.act(kept.access_token().secret()).await, 401, "the grant is revoked");
    assert_eq!(refresh(&gpt, &refresh_token_of(&kept)).await.unwrap_err(), "invalid_grant");
    assert_eq!(connector.live_grants().await, 0);
}

/// A thief with a just-rotated refresh token and the client's secret refreshes within the
/// grace window. It gets a token, but cannot take over quietly: as soon as either side
/// uses its token, the other's is superseded, and presenting that revokes the grant.
#[tokio::test]
async fn a_stolen_token_used_within_the_grace_window_is_caught() {
    let connector = Connector::start().await;
    let gpt = connector.gpt();
    let tokens = connector.link(&gpt).await;
    let stolen = refresh_token_of(&tokens);
    let victims = refresh(&gpt, &stolen).await.expect("the victim's refresh");
    let thiefs = refresh(&gpt, &stolen).await.expect("the thief's refresh within grace");
    let thief_next = refresh(&gpt, &refresh_token_of(&thiefs)).await.expect("the thief rotates first");
    assert_eq!(connector.act(thief_next.access_token().secret()).await, 200);

    assert_eq!(refresh(&gpt, &refresh_token_of(&victims)).await.unwrap_err(), "invalid_grant");
    assert_eq!(connector.act(thief_next.access_token().secret()).await, 401, "the thief is cut off");
    assert_eq!(refresh(&gpt, &refresh_token_of(&thief_next)).await.unwrap_err(), "invalid_grant");
}

/// A rotated refresh token replayed after the grace window is reuse: refused, and the
/// whole grant dies (the current token and the access tokens with it). The window is
/// passed by moving the rotation time back in the database, not by waiting.
#[tokio::test]
async fn a_refresh_token_replayed_after_the_grace_window_revokes_the_grant() {
    let connector = Connector::start().await;
    let gpt = connector.gpt();
    let tokens = connector.link(&gpt).await;
    let old = refresh_token_of(&tokens);
    let current = refresh(&gpt, &old).await.expect("rotation");
    let grace = shared::oauth::REFRESH_GRACE.num_seconds() + 1;
    let moved = connector
        .db
        .connect()
        .await
        .execute(
            &format!(
                "update connector_refresh_tokens set rotated_at = rotated_at - interval '{grace} seconds' \
                 where rotated_at is not null"
            ),
            &[],
        )
        .await
        .expect("backdate the rotation");
    assert_eq!(moved, 1);

    assert_eq!(refresh(&gpt, &old).await.unwrap_err(), "invalid_grant");
    assert_eq!(connector.act(current.access_token().secret()).await, 401);
    assert_eq!(refresh(&gpt, &refresh_token_of(&current)).await.unwrap_err(), "invalid_grant");
    assert_eq!(connector.live_grants().await, 0);
}

// --- HSTS ---

/// Someone on the network strips TLS from a later visit: an https deployment's answers
/// (pages, JSON, errors, actions, discovery) all tell the browser to use https only.
#[tokio::test]
async fn https_deployments_send_hsts_on_every_response() {
    let connector = Connector::start_with(&[("PUBLIC_BASE_URL", "https://connector.example")]).await;
    let hsts = hsts_headers(&connector).await;
    for (what, value) in &hsts {
        assert_eq!(value.as_deref(), Some("max-age=63072000; includeSubDomains"), "{what}");
    }
}

/// A plain-http deployment (local development) sends no HSTS: it would pin a host that
/// has no https to https.
#[tokio::test]
async fn http_deployments_do_not_send_hsts() {
    let connector = Connector::start().await;
    for (what, value) in hsts_headers(&connector).await {
        assert_eq!(value, None, "{what}");
    }
}

/// The `Strict-Transport-Security` header of one answer of each kind.
async fn hsts_headers(connector: &Connector) -> Vec<(String, Option<String>)> {
    let http = shared::tls::client_builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let base = connector.base();
    let requests = [
        http.get(format!("{base}/healthz")),
        http.get(format!("{base}/.well-known/oauth-authorization-server")),
        http.get(format!("{base}/.well-known/jwks.json")),
        http.get(format!("{base}/connector/chatgpt/openapi.json")),
        http.get(format!("{base}/oauth/chatgpt/authorize?client_id={DEV_CLIENT}")),
        http.get(format!("{base}/oauth/chatgpt/authorize?client_id=unknown")),
        http.get(format!("{base}/oauth/chatgpt/login?request=00000000-0000-0000-0000-000000000000")),
        http.post(format!("{base}/oauth/chatgpt/token")).form(&[("grant_type", "refresh_token")]),
        http.get(format!("{base}/connector/chatgpt/get_profile")),
        http.get(format!("{base}/no/such/route")),
    ];
    let mut headers = Vec::new();
    for request in requests {
        let response = request.send().await.expect("the connector answers");
        let what = format!("{} {}", response.status(), response.url().path());
        let value = response.headers().get("strict-transport-security").map(|v| v.to_str().unwrap().to_owned());
        headers.push((what, value));
    }
    headers
}

/// The same defences in a deployed function: the `oauth-authorize` Lambda binary, fed API
/// Gateway events, refuses a `plain` challenge back to the client with `iss`, and the
/// `discovery` and `oauth-token` binaries advertise S256 and answer with HSTS.
#[tokio::test]
async fn the_lambda_functions_refuse_plain_pkce_and_send_hsts() {
    use testkit::lambda::{GatewayEvent, LambdaFunction};

    let (db, store) = TestDatabase::migrated().await;
    let redirect_uri = "https://chatgpt.com/aip/g-lambda/oauth/callback";
    store
        .create_client(&OAuthClient {
            id: "chatgpt-lambda".into(),
            name: "ChatGPT".into(),
            secret_hash: shared::TokenHash::of(&shared::tokens::generate("dxcs_")),
            previous_secret_hash: None,
            previous_secret_expires_at: None,
            redirect_uris: vec![redirect_uri.into()],
            scopes: SCOPES.map(String::from).to_vec(),
            created_at: chrono::Utc::now(),
            public: false,
        })
        .await
        .expect("client");
    let keys = serde_json::json!([shared::keys::SigningKeys::generate_jwk()]).to_string();
    let env = testkit::lambda_env(db.url(), &keys);
    let header = |response: &Value, name: &str| response["headers"][name].as_str().map(str::to_owned);
    let hsts = Some("max-age=63072000; includeSubDomains".to_owned());

    let mut authorize = LambdaFunction::start(&testkit::binaries::path("oauth-authorize"), &env).await;
    let (_, verifier) = PkceCodeChallenge::new_random_sha256();
    let query = format!(
        "response_type=code&client_id=chatgpt-lambda&state=s&redirect_uri={}&code_challenge={}&code_challenge_method=plain",
        redirect_uri.replace(':', "%3A").replace('/', "%2F"),
        verifier.secret()
    );
    let event = GatewayEvent::get("/oauth/chatgpt/authorize").query(&query);
    let response = authorize.invoke(event.build()).await;
    assert_eq!(response["statusCode"], 303, "{response}");
    let location = reqwest::Url::parse(&header(&response, "location").expect("a redirect")).unwrap();
    let param = |name: &str| location.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned());
    assert_eq!(param("error").as_deref(), Some("invalid_request"));
    assert_eq!(param("iss").as_deref(), Some(testkit::PUBLIC_BASE_URL));
    assert_eq!(header(&response, "strict-transport-security"), hsts);
    let stored = db.connect().await.query_one("select count(*) from connector_authorization_requests", &[]).await;
    assert_eq!(stored.expect("count").get::<_, i64>(0), 0);

    let mut discovery = LambdaFunction::start(&testkit::binaries::path("discovery"), &env).await;
    let event = GatewayEvent::get("/.well-known/oauth-authorization-server");
    let response = discovery.invoke(event.build()).await;
    let meta: Value = serde_json::from_str(response["body"].as_str().expect("a body")).expect("JSON");
    assert_eq!(meta["code_challenge_methods_supported"], serde_json::json!(["S256"]));
    assert_eq!(header(&response, "strict-transport-security"), hsts);

    let mut token = LambdaFunction::start(&testkit::binaries::path("oauth-token"), &env).await;
    let event = GatewayEvent::new("POST", "/oauth/chatgpt/token")
        .json_body(&serde_json::json!({ "grant_type": "authorization_code" }));
    let response = token.invoke(event.build()).await;
    assert_eq!(response["statusCode"], 401, "{response}");
    assert_eq!(header(&response, "strict-transport-security"), hsts);
}
