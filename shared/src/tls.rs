//! Outgoing HTTPS: every client of the connector (Secrets Manager, Supabase, Turnstile,
//! the MCP server) speaks TLS through rustls with the *ring* provider, the one Postgres
//! TLS uses too. reqwest is built without its default provider (aws-lc), which would
//! put a second crypto library in every Lambda binary; so a client must be made here,
//! after the provider is installed.

/// Installs ring as the process's rustls provider. Idempotent.
pub fn install_crypto_provider() {
    // Err only when a provider is already installed, which is what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A reqwest builder whose TLS uses the process's provider.
pub fn client_builder() -> reqwest::ClientBuilder {
    install_crypto_provider();
    reqwest::Client::builder()
}

/// A reqwest client with default settings.
pub fn client() -> reqwest::Client {
    client_builder().build().expect("a default HTTP client builds")
}
