//! Supabase Auth's asymmetric JWT signing keys: the project's JWKS
//! (`<SUPABASE_URL>/auth/v1/.well-known/jwks.json`), cached in the process.
//!
//! New Supabase projects sign session tokens with an ES256 or RS256 key named by `kid`
//! and rotate it: the next key is published before it signs, the previous one stays
//! published until its tokens have expired. So a token naming a `kid` we have not seen
//! means the keys rotated, and we fetch the set again; a cached set older than
//! [`MAX_AGE`] is fetched again too, so a key Supabase withdrew stops verifying.
//!
//! Anyone can put any `kid` in a token, so fetches are rate limited: at most one per
//! `min_refetch` (30 s by default) whatever arrives, and concurrent callers wait for the
//! one fetch in flight instead of starting their own. A fetch has a deadline
//! ([`FETCH_TIMEOUT`]) and a size cap ([`MAX_JWKS_BYTES`]); when it fails, the keys we
//! already have stay in use. TLS is the connector's own client ([`crate::tls`]).
//!
//! The holding and rate limiting ([`HeldKeys`]) and the parsing ([`parse`]) are shared
//! with the cache of MCP clients' keys ([`crate::oauth::assertion`]).
//!
//! Each key is pinned to one algorithm: an EC P-256 key verifies ES256 only, an RSA key
//! (2048 bits or more) RS256 only, whatever the token's header claims. Keys of any other
//! kind, or not for signatures, are ignored.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use jsonwebtoken::{Algorithm, DecodingKey};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

/// How long a fetched key set is trusted before it is fetched again.
pub const MAX_AGE: Duration = Duration::from_secs(600);
/// The most a JWKS fetch may take.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(3);
/// The largest JWKS accepted (Supabase's holds a handful of keys, well under 8 KiB).
pub const MAX_JWKS_BYTES: usize = 64 * 1024;
/// The smallest RSA modulus accepted, in bytes (2048 bits).
const MIN_RSA_MODULUS_BYTES: usize = 256;

/// A published key and the one algorithm it verifies.
pub struct SigningKey {
    pub algorithm: Algorithm,
    pub key: DecodingKey,
}

/// Keys by `kid`, as last fetched, and how long they are trusted.
#[derive(Default)]
pub struct KeySet {
    pub keys: HashMap<String, Arc<SigningKey>>,
    /// When the fetch that returned them happened; `None` before the first success.
    fetched_at: Option<Instant>,
    /// How long after `fetched_at` they are trusted.
    max_age: Duration,
}

impl KeySet {
    /// Keys that were not fetched (a client's inline JWKS): always fresh.
    pub fn given(keys: HashMap<String, Arc<SigningKey>>) -> KeySet {
        KeySet { keys, fetched_at: Some(Instant::now()), max_age: Duration::MAX }
    }

    /// Fetched less than their `max_age` ago.
    pub fn is_fresh(&self) -> bool {
        self.fetched_at.is_some_and(|at| at.elapsed() < self.max_age)
    }
}

/// One JWKS held in the process: the pattern [`SupabaseKeys`] and the client key cache
/// of [`crate::oauth::assertion`] share. Readers take the current set without waiting; a
/// fetch holds a lock, so concurrent callers wait for it and use what it fetched instead
/// of fetching again; and a fetch is skipped when one that counts started within the
/// caller's window.
#[derive(Default)]
pub struct HeldKeys {
    set: RwLock<Arc<KeySet>>,
    /// When the last fetch that counts against the window started; held across a
    /// fetch, so there is one at a time.
    last_counted: tokio::sync::Mutex<Option<Instant>>,
}

/// Whether a fetch starts a window of [`HeldKeys::refresh`].
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Counts {
    /// Every fetch, whatever its outcome.
    Always,
    /// Only a fetch that fails: filling an empty or expired set is not a refetch.
    OnFailure,
}

impl HeldKeys {
    /// The set as last fetched (empty before the first success).
    pub fn current(&self) -> Arc<KeySet> {
        self.set.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Fetches the set again with `fetch` (its keys and how long to trust them) unless,
    /// once any fetch in flight has finished, `needed` says the current set will do or a
    /// fetch that counts started within `window`. A failed fetch keeps the current set
    /// and returns its error; a skipped one returns the current set.
    pub async fn refresh<E, Fut>(
        &self,
        window: Duration,
        counts: Counts,
        needed: impl Fn(&KeySet) -> bool,
        fetch: impl FnOnce() -> Fut,
    ) -> Result<Arc<KeySet>, E>
    where
        Fut: std::future::Future<Output = Result<(HashMap<String, Arc<SigningKey>>, Duration), E>>,
    {
        let mut last_counted = self.last_counted.lock().await;
        let current = self.current();
        if !needed(&current) || last_counted.is_some_and(|at| at.elapsed() < window) {
            return Ok(current);
        }
        let started = Instant::now();
        match fetch().await {
            Ok((keys, max_age)) => {
                if counts == Counts::Always {
                    *last_counted = Some(started);
                }
                let set = Arc::new(KeySet { keys, fetched_at: Some(Instant::now()), max_age });
                *self.set.write().unwrap_or_else(|e| e.into_inner()) = set.clone();
                Ok(set)
            }
            Err(error) => {
                *last_counted = Some(started);
                Err(error)
            }
        }
    }
}

/// The process's cache of one project's JWKS. Cheap to clone (shared).
#[derive(Clone)]
pub struct SupabaseKeys(Arc<Inner>);

struct Inner {
    url: String,
    /// The project's anon key, sent as `apikey` as Supabase's client libraries do.
    apikey: Option<SecretString>,
    http: reqwest::Client,
    min_refetch: Duration,
    keys: HeldKeys,
}

impl SupabaseKeys {
    /// The keys at `url`, fetched with `http` (a client from [`crate::tls`]) on first use.
    pub fn new(url: String, apikey: Option<SecretString>, http: reqwest::Client, min_refetch: Duration) -> Self {
        SupabaseKeys(Arc::new(Inner { url, apikey, http, min_refetch, keys: HeldKeys::default() }))
    }

    /// The key named `kid`: from the cache when it is there and fresh, otherwise after
    /// fetching the set again if no fetch happened (or was tried) in the last `min_refetch`.
    pub async fn key(&self, kid: &str) -> Option<Arc<SigningKey>> {
        let cached = self.0.keys.current();
        if let Some(key) = cached.keys.get(kid).filter(|_| cached.is_fresh()) {
            return Some(key.clone());
        }
        let fetch = || async {
            let keys = self.fetch().await?;
            tracing::info!(keys = keys.len(), "fetched Supabase's JWT signing keys");
            anyhow::Ok((keys, MAX_AGE))
        };
        if let Err(error) = self.0.keys.refresh(self.0.min_refetch, Counts::Always, |_| true, fetch).await {
            tracing::warn!(error = %format!("{error:#}"), "could not fetch Supabase's JWT signing keys; keeping the ones we have");
        }
        self.0.keys.current().keys.get(kid).cloned()
    }

    async fn fetch(&self) -> anyhow::Result<HashMap<String, Arc<SigningKey>>> {
        let mut request = self.0.http.get(&self.0.url).timeout(FETCH_TIMEOUT).header("accept", "application/json");
        if let Some(apikey) = &self.0.apikey {
            request = request.header("apikey", apikey.expose_secret());
        }
        let mut response = request.send().await?;
        anyhow::ensure!(response.status().is_success(), "the JWKS answered {}", response.status());
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await? {
            anyhow::ensure!(
                body.len() + chunk.len() <= MAX_JWKS_BYTES,
                "the JWKS is larger than {MAX_JWKS_BYTES} bytes"
            );
            body.extend_from_slice(&chunk);
        }
        Ok(parse(&body)?)
    }
}

/// A JWK as published; only the members we read.
#[derive(Deserialize)]
struct Jwk {
    kty: String,
    kid: Option<String>,
    alg: Option<String>,
    #[serde(rename = "use")]
    usage: Option<String>,
    crv: Option<String>,
    x: Option<String>,
    y: Option<String>,
    n: Option<String>,
    e: Option<String>,
}

#[derive(Deserialize)]
struct Jwks {
    keys: Vec<serde_json::Value>,
}

/// The usable keys of a JWKS document, by `kid`; members that are not usable signing
/// keys (another kind, another use, malformed) are skipped.
pub fn parse(body: &[u8]) -> Result<HashMap<String, Arc<SigningKey>>, serde_json::Error> {
    let jwks: Jwks = serde_json::from_slice(body)?;
    Ok(jwks
        .keys
        .into_iter()
        .filter_map(|value| serde_json::from_value::<Jwk>(value).ok())
        .filter_map(|jwk| Some((jwk.kid.clone()?, Arc::new(signing_key(&jwk)?))))
        .collect())
}

/// The key and its one algorithm, if `jwk` is an ES256 or RS256 signing key.
fn signing_key(jwk: &Jwk) -> Option<SigningKey> {
    if jwk.usage.as_deref().is_some_and(|u| u != "sig") {
        return None;
    }
    let decoded_len = |text: &Option<String>| text.as_deref().and_then(|t| B64.decode(t).ok()).map(|b| b.len());
    match (jwk.kty.as_str(), jwk.alg.as_deref()) {
        ("EC", None | Some("ES256")) => {
            let (x, y) = (jwk.x.as_deref()?, jwk.y.as_deref()?);
            let sized = jwk.crv.as_deref() == Some("P-256")
                && decoded_len(&jwk.x) == Some(32)
                && decoded_len(&jwk.y) == Some(32);
            let key = DecodingKey::from_ec_components(x, y).ok().filter(|_| sized)?;
            Some(SigningKey { algorithm: Algorithm::ES256, key })
        }
        ("RSA", None | Some("RS256")) => {
            if decoded_len(&jwk.n)? < MIN_RSA_MODULUS_BYTES || decoded_len(&jwk.e)? == 0 {
                return None;
            }
            let key = DecodingKey::from_rsa_components(jwk.n.as_deref()?, jwk.e.as_deref()?).ok()?;
            Some(SigningKey { algorithm: Algorithm::RS256, key })
        }
        _ => None,
    }
}

/// The most `jwks_uri`s whose keys are held at once.
pub const MAX_CACHED_JWKS_URIS: usize = 256;

/// Client `jwks_uri` keys held in the process, by URI: one per cold start
/// (`AppState::client_keys`), at most [`MAX_CACHED_JWKS_URIS`], the least recently used
/// dropped first.
#[derive(Default)]
pub struct ClientKeyCache {
    entries: Mutex<Entries>,
}

#[derive(Default)]
struct Entries {
    /// Each URI's keys and the tick of its last use.
    by_uri: HashMap<String, (Arc<HeldKeys>, u64)>,
    /// Counts uses, so the least recently used is the smallest tick.
    tick: u64,
}

impl ClientKeyCache {
    /// The held keys of `uri`, created empty when it is not held.
    pub fn held(&self, uri: &str) -> Arc<HeldKeys> {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.tick += 1;
        let tick = entries.tick;
        if let Some((held, used)) = entries.by_uri.get_mut(uri) {
            *used = tick;
            return held.clone();
        }
        if entries.by_uri.len() >= MAX_CACHED_JWKS_URIS {
            let oldest = entries.by_uri.iter().min_by_key(|(_, (_, used))| *used).map(|(uri, _)| uri.clone());
            if let Some(oldest) = oldest {
                entries.by_uri.remove(&oldest);
            }
        }
        let held = Arc::new(HeldKeys::default());
        entries.by_uri.insert(uri.to_owned(), (held.clone(), tick));
        held
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ec(kid: &str) -> serde_json::Value {
        json!({"kty": "EC", "kid": kid, "alg": "ES256", "use": "sig", "crv": "P-256",
               "x": B64.encode([1u8; 32]), "y": B64.encode([2u8; 32])})
    }

    fn rsa(kid: &str, bytes: usize) -> serde_json::Value {
        json!({"kty": "RSA", "kid": kid, "alg": "RS256", "n": B64.encode(vec![0xc5u8; bytes]), "e": "AQAB"})
    }

    #[test]
    fn each_key_is_pinned_to_its_one_algorithm_and_odd_ones_are_skipped() {
        let mut hs = ec("hs");
        hs["alg"] = json!("HS256");
        let mut enc = ec("enc");
        enc["use"] = json!("enc");
        let mut p384 = ec("p384");
        p384["crv"] = json!("P-384");
        let oct = json!({"kty": "oct", "kid": "oct", "k": "c2VjcmV0"});
        let no_kid = json!({"kty": "EC", "crv": "P-256", "x": B64.encode([1u8; 32]), "y": B64.encode([2u8; 32])});
        let body =
            json!({"keys": [ec("ec"), rsa("rsa", 256), rsa("rsa-1024", 128), hs, enc, p384, oct, no_kid, "junk"]});
        let keys = parse(body.to_string().as_bytes()).unwrap();
        let mut kids: Vec<&str> = keys.keys().map(String::as_str).collect();
        kids.sort();
        assert_eq!(kids, ["ec", "rsa"]);
        assert_eq!(keys["ec"].algorithm, Algorithm::ES256);
        assert_eq!(keys["rsa"].algorithm, Algorithm::RS256);
    }

    /// Serves `body` as the JWKS on a local port, counting the fetches.
    async fn serve(body: String) -> (String, Arc<std::sync::atomic::AtomicUsize>) {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let fetches = Arc::new(AtomicUsize::new(0));
        let counter = fetches.clone();
        let router = axum::Router::new().route(
            "/jwks.json",
            axum::routing::get(move || {
                counter.fetch_add(1, Ordering::SeqCst);
                let body = body.clone();
                async move { body }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        (url, fetches)
    }

    fn keys(url: String) -> SupabaseKeys {
        SupabaseKeys::new(url, None, crate::tls::client(), Duration::from_secs(30))
    }

    #[tokio::test]
    async fn keys_are_fetched_once_and_an_unknown_kid_waits_for_the_window() {
        let (url, fetches) = serve(json!({"keys": [ec("a")]}).to_string()).await;
        let keys = keys(url);
        assert!(keys.key("a").await.is_some());
        assert!(keys.key("a").await.is_some());
        for kid in ["b", "c", "d"] {
            assert!(keys.key(kid).await.is_none());
        }
        assert_eq!(fetches.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn an_oversized_jwks_is_refused() {
        let mut members: Vec<serde_json::Value> = vec![ec("a")];
        members.extend((0..2000).map(|i| json!({"kty": "oct", "kid": format!("padding-{i}"), "k": "c2VjcmV0"})));
        let body = json!({ "keys": members }).to_string();
        assert!(body.len() > MAX_JWKS_BYTES);
        let (url, fetches) = serve(body).await;
        assert!(keys(url).key("a").await.is_none());
        assert_eq!(fetches.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[test]
    fn a_document_that_is_not_a_jwks_is_an_error() {
        assert!(parse(b"<html>").is_err());
        assert!(parse(b"{\"keys\": {}}").is_err());
    }

    #[test]
    fn the_key_cache_holds_at_most_its_cap_and_drops_the_least_recently_used() {
        let cache = ClientKeyCache::default();
        let uri = |i: usize| format!("https://client{i}.example/jwks.json");
        let first = cache.held(&uri(0));
        for i in 1..MAX_CACHED_JWKS_URIS {
            cache.held(&uri(i));
        }
        // Used again, the first is no longer the least recently used: the second is.
        assert!(Arc::ptr_eq(&first, &cache.held(&uri(0))));
        cache.held("https://new.example/jwks.json");
        let entries = cache.entries.lock().unwrap();
        assert_eq!(entries.by_uri.len(), MAX_CACHED_JWKS_URIS);
        assert!(entries.by_uri.contains_key(&uri(0)) && !entries.by_uri.contains_key(&uri(1)));
    }
}
