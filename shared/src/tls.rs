//! Outgoing TLS: every client of the connector (Secrets Manager, Supabase, Turnstile, the
//! MCP server, Postgres) uses rustls with the *ring* provider and Mozilla's root
//! certificates compiled in (`webpki-roots`).
//!
//! Two choices keep cold starts and binaries small. reqwest is built without its default
//! provider (aws-lc), which would put a second crypto library in every Lambda binary. And
//! its clients get a ready `ClientConfig`: left to itself, reqwest reads and parses the
//! system's CA bundle (`rustls-platform-verifier`) each time a client is built, which
//! is milliseconds of every cold start; the compiled-in roots cost nothing to load.

use std::sync::Arc;

/// Installs ring as the process's default rustls provider, for any library that asks for
/// the default. Idempotent.
pub fn install_crypto_provider() {
    // Err only when a provider is already installed, which is what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Mozilla's trusted roots, as compiled in: nothing is parsed at run time.
pub fn web_pki_roots() -> rustls::RootCertStore {
    rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() }
}

/// A client configuration trusting `roots`, on ring, TLS 1.2 and 1.3.
pub fn client_config(roots: rustls::RootCertStore) -> rustls::ClientConfig {
    rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth()
}

/// A reqwest builder with the connector's TLS (ring, web PKI roots).
pub fn client_builder() -> reqwest::ClientBuilder {
    install_crypto_provider();
    reqwest::Client::builder().tls_backend_preconfigured(client_config(web_pki_roots()))
}

/// A reqwest client with default settings.
pub fn client() -> reqwest::Client {
    client_builder().build().expect("a default HTTP client builds")
}

/// Why [`read_limited`] gave up.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The body went past the limit; reading stopped there.
    #[error("the answer is larger than {limit} bytes")]
    TooLarge { limit: usize },
    /// The connection failed (or timed out) while the body was read.
    #[error("reading the answer failed")]
    Transport(#[source] reqwest::Error),
}

/// Reads a whole response body, refusing one longer than `limit` bytes: every answer
/// from a service the connector calls is read through here, so a misbehaving (or
/// hostile) upstream costs at most `limit` bytes of memory.
pub async fn read_limited(mut response: reqwest::Response, limit: usize) -> Result<Vec<u8>, ReadError> {
    if response.content_length().is_some_and(|len| len > limit as u64) {
        return Err(ReadError::TooLarge { limit });
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(ReadError::Transport)? {
        if body.len() + chunk.len() > limit {
            return Err(ReadError::TooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
