//! Typed configuration, read once per cold start.
//!
//! Plain settings come from environment variables. Secrets (signing keys, the MCP
//! secret, the database URL, the Turnstile secret, the admin token) come from one AWS
//! Secrets Manager secret when `CONNECTOR_SECRET_ARN` is set, otherwise from environment
//! variables of the same names. A missing or malformed setting stops startup with one
//! line naming it.
//!
//! Two modes: [`Mode::Lambda`] requires everything a deployment needs; [`Mode::Local`]
//! (`connector serve`) fills what is missing with local defaults: an ephemeral signing
//! key, the in-memory store, the sandbox MCP server and Cloudflare's Turnstile test keys.

use std::collections::HashMap;

use secrecy::{ExposeSecret, SecretString};

use crate::keys::SigningKeys;
use crate::secrets::SecretValues;

/// Cloudflare's documented "always passes" Turnstile test keys, for local runs only.
pub const TURNSTILE_TEST_SITE_KEY: &str = "1x00000000000000000000AA";
pub const TURNSTILE_TEST_SECRET: &str = "1x0000000000000000000000000000000AA";
pub const TURNSTILE_SITEVERIFY_URL: &str = "https://challenges.cloudflare.com/turnstile/v0/siteverify";

/// Where the configuration is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// A deployed function: every setting must be given.
    Lambda,
    /// `connector serve` on this port: missing settings get local defaults.
    Local { port: u16 },
}

/// Every setting the connector reads.
#[derive(Clone, Debug)]
pub struct Config {
    /// The public origin ChatGPT reaches, without a trailing slash
    /// (`https://api.dexter.cash`). OAuth URLs, `iss`/`aud` and the spec's server derive from it.
    pub public_base_url: String,
    /// `None` means the in-memory store (local runs only).
    pub database: Option<DatabaseConfig>,
    pub signing_keys: SigningKeys,
    pub mcp: McpConfig,
    pub turnstile: TurnstileConfig,
    pub identity: IdentityConfig,
    /// How Dexter's own Supabase session JWTs are verified on the Dexter-side API.
    pub sessions: SessionConfig,
    pub admin_token: SecretString,
    /// `NEXT_PUBLIC_ENABLE_VOICE`: whether `handoff_voice` may hand out links.
    pub enable_voice: bool,
    /// Dexter Voice's page that receives a handoff (`VOICE_URL`).
    pub voice_url: String,
    /// The CloudWatch namespace of the per-action metrics in the request log line
    /// (`METRICS_NAMESPACE`; template.yaml sets `DexterConnector/<stack>`, which the
    /// dashboard searches).
    pub metrics_namespace: String,
}

/// The metrics namespace when `METRICS_NAMESPACE` is not set (`connector serve`).
pub const DEFAULT_METRICS_NAMESPACE: &str = "DexterConnector/local";

#[derive(Clone, Debug)]
pub struct DatabaseConfig {
    pub url: SecretString,
    /// Connect with TLS (verified against the web PKI roots), as Supabase requires.
    pub tls: bool,
    /// Further CA certificates (PEM) to trust, such as Supabase's own database CA.
    pub ca_pem: Option<String>,
}

#[derive(Clone, Debug)]
pub struct McpConfig {
    /// dexter-mcp's streamable HTTP endpoint. `None` locally: the sandbox server is used.
    pub url: Option<String>,
    /// The HS256 secret dexter-mcp verifies our per-call JWTs with.
    pub jwt_secret: SecretString,
    /// Which published MCP tool each logical tool is (`MCP_TOOL_NAMES`).
    pub tools: ToolNames,
    /// How long one action waits for dexter-mcp (`MCP_TIMEOUT_MS`, default 10 s, at most
    /// 25 s so an action answers before API Gateway's 29 s).
    pub deadline: std::time::Duration,
}

/// The MCP tools the actions use, by the product document's names (toolset prefix
/// included), mapped to the names the MCP server publishes. dexter-mcp publishes them
/// bare (`wallet/list_my_wallets` is `list_my_wallets`); `MCP_TOOL_NAMES` (a JSON object)
/// overrides any of them without a code change.
#[derive(Clone, Debug, PartialEq)]
pub struct ToolNames(std::collections::BTreeMap<String, String>);

impl ToolNames {
    /// The logical tools and their default published names.
    pub const DEFAULTS: [(&'static str, &'static str); 8] = [
        ("wallet/list_my_wallets", "list_my_wallets"),
        ("solana_list_balances", "solana_list_balances"),
        ("solana_resolve_token", "solana_resolve_token"),
        ("solana_swap_preview", "solana_swap_preview"),
        ("solana_swap_execute", "solana_swap_execute"),
        ("general/alerts_list", "alerts_list"),
        ("general/alerts_create", "alerts_create"),
        ("general/search", "search"),
    ];

    pub fn parse(overrides: Option<&str>) -> Result<ToolNames, ConfigError> {
        let mut names: std::collections::BTreeMap<String, String> =
            Self::DEFAULTS.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        if let Some(text) = overrides {
            let malformed = |reason: String| ConfigError::Malformed { name: "MCP_TOOL_NAMES", reason };
            let given: std::collections::BTreeMap<String, String> = serde_json::from_str(text)
                .map_err(|e| malformed(format!("expected a JSON object of strings ({e})")))?;
            for (logical, published) in given {
                if !names.contains_key(&logical) {
                    return Err(malformed(format!("unknown tool {logical:?}")));
                }
                if published.is_empty() {
                    return Err(malformed(format!("empty name for {logical:?}")));
                }
                names.insert(logical, published);
            }
        }
        Ok(ToolNames(names))
    }

    /// The published name of a logical tool.
    pub fn published<'a>(&'a self, logical: &'a str) -> &'a str {
        self.0.get(logical).map(String::as_str).unwrap_or(logical)
    }
}

#[derive(Clone, Debug)]
pub struct TurnstileConfig {
    pub site_key: String,
    pub secret: SecretString,
    pub siteverify_url: String,
}

/// How the Dexter-side API (`/dexter/*`) verifies Dexter's Supabase session JWTs
/// (`identity::session`).
#[derive(Clone, Debug)]
pub struct SessionConfig {
    /// The `iss` Supabase Auth writes: `<SUPABASE_URL>/auth/v1`.
    pub issuer: String,
    /// The project's asymmetric signing keys: `<SUPABASE_URL>/auth/v1/.well-known/jwks.json`.
    pub jwks_url: String,
    /// The project's legacy HS256 JWT secret (`SUPABASE_JWT_SECRET`). `None` once the
    /// project revoked it (or never had one): HS256 tokens are then refused.
    pub legacy_secret: Option<SecretString>,
    /// The least time between two JWKS fetches (`SUPABASE_JWKS_MIN_REFETCH_SECONDS`, default
    /// 30): tokens with made-up `kid`s cannot make the connector hammer Supabase.
    pub jwks_min_refetch: std::time::Duration,
    /// `DEXTER_APPROVAL_REQUIRES_AAL2`: approving a swap needs a session that passed a
    /// second factor (`aal: aal2`).
    pub approval_requires_aal2: bool,
}

/// Supabase's local development stack (`supabase start`), the project `connector serve`
/// trusts sessions of when `SUPABASE_URL` is not set.
pub const SUPABASE_LOCAL_URL: &str = "http://127.0.0.1:54321";

/// Who signs users in during the OAuth flow.
#[derive(Clone, Debug)]
pub enum IdentityConfig {
    /// Supabase Auth email one-time codes and magic links (`/auth/v1/otp`, `/auth/v1/verify`).
    Supabase {
        /// The project URL, e.g. `https://xyz.supabase.co`.
        url: String,
        /// The project's anon (publishable) key, sent as `apikey`.
        anon_key: SecretString,
        /// Who verifies the Turnstile token: the connector (siteverify) or Supabase
        /// (its captcha protection, via `gotrue_meta_security.captcha_token`).
        captcha: CaptchaVerifier,
    },
    /// Local only: codes are printed to the console instead of emailed.
    Dev,
}

/// Which side verifies the single-use Turnstile token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CaptchaVerifier {
    Connector,
    Supabase,
}

/// A setting that stops startup. Its message names the setting, never its value.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration error: {0} is not set")]
    Missing(&'static str),
    #[error("configuration error: {name} is malformed: {reason}")]
    Malformed { name: &'static str, reason: String },
    #[error("configuration error: {0}")]
    SecretsManager(#[from] crate::secrets::SecretsError),
}

pub use crate::secrets::SECRET_NAMES;

impl Config {
    /// Reads the process environment and, when `CONNECTOR_SECRET_ARN` is set, the
    /// Secrets Manager secret it names.
    pub async fn load(mode: Mode) -> Result<Config, ConfigError> {
        let env: HashMap<String, String> = std::env::vars().collect();
        let secrets = match env.get("CONNECTOR_SECRET_ARN").filter(|v| !v.is_empty()) {
            Some(secret_id) => crate::secrets::fetch(secret_id).await?,
            None => SecretValues::default(),
        };
        Config::from_sources(mode, &env, &secrets)
    }

    /// Builds the configuration from already-read sources; secrets found in `secrets`
    /// win over environment variables of the same name.
    pub fn from_sources(
        mode: Mode,
        env: &HashMap<String, String>,
        secrets: &SecretValues,
    ) -> Result<Config, ConfigError> {
        let local = match mode {
            Mode::Local { port } => Some(port),
            Mode::Lambda => None,
        };
        let var = |name: &str| env.get(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let secret = |name: &'static str| -> Option<SecretString> {
            secrets.get(name).cloned().or_else(|| var(name).map(SecretString::from))
        };
        let required = |name: &'static str, default: Option<String>| -> Result<String, ConfigError> {
            var(name).or(default).ok_or(ConfigError::Missing(name))
        };
        let required_secret = |name: &'static str, default: Option<String>| -> Result<SecretString, ConfigError> {
            secret(name).or(default.map(SecretString::from)).ok_or(ConfigError::Missing(name))
        };

        let public_base_url = parse_base_url(
            &required("PUBLIC_BASE_URL", local.map(|port| format!("http://127.0.0.1:{port}")))?,
            local.is_some(),
        )?;

        let database = match secret("DATABASE_URL") {
            Some(url) => {
                let tls = match var("DATABASE_TLS") {
                    Some(v) => parse_bool("DATABASE_TLS", &v)?,
                    None => local.is_none(),
                };
                let ca_pem = secret("DATABASE_CA_PEM").map(|pem| pem.expose_secret().to_owned());
                match &ca_pem {
                    Some(_) if !tls => {
                        return Err(ConfigError::Malformed {
                            name: "DATABASE_CA_PEM",
                            reason: "set, but DATABASE_TLS is false".into(),
                        });
                    }
                    Some(pem) if !pem.contains("-----BEGIN CERTIFICATE-----") => {
                        return Err(ConfigError::Malformed {
                            name: "DATABASE_CA_PEM",
                            reason: "not a PEM certificate".into(),
                        });
                    }
                    _ => {}
                }
                Some(DatabaseConfig { url, tls, ca_pem })
            }
            None if local.is_some() => None,
            None => return Err(ConfigError::Missing("DATABASE_URL")),
        };

        let signing_keys = match secret("SIGNING_KEYS") {
            Some(text) => SigningKeys::from_json(text.expose_secret())
                .map_err(|e| ConfigError::Malformed { name: "SIGNING_KEYS", reason: e.to_string() })?,
            None if local.is_some() => SigningKeys::ephemeral(),
            None => return Err(ConfigError::Missing("SIGNING_KEYS")),
        };

        let mcp_url = match var("MCP_URL") {
            Some(url) => Some(parse_url("MCP_URL", &url)?),
            None if local.is_some() => None,
            None => return Err(ConfigError::Missing("MCP_URL")),
        };
        let mcp = McpConfig {
            url: mcp_url,
            jwt_secret: required_secret("MCP_JWT_SECRET", local.map(|_| random_secret()))?,
            tools: ToolNames::parse(var("MCP_TOOL_NAMES").as_deref())?,
            deadline: match var("MCP_TIMEOUT_MS") {
                None => std::time::Duration::from_secs(10),
                Some(text) => match text.parse::<u64>() {
                    Ok(ms) if (100..=25_000).contains(&ms) => std::time::Duration::from_millis(ms),
                    _ => {
                        return Err(ConfigError::Malformed {
                            name: "MCP_TIMEOUT_MS",
                            reason: "expected milliseconds between 100 and 25000".into(),
                        });
                    }
                },
            },
        };
        if mcp.jwt_secret.expose_secret().len() < 32 {
            return Err(ConfigError::Malformed {
                name: "MCP_JWT_SECRET",
                reason: "must be at least 32 characters".into(),
            });
        }

        let turnstile = TurnstileConfig {
            site_key: required("TURNSTILE_SITE_KEY", local.map(|_| TURNSTILE_TEST_SITE_KEY.into()))?,
            secret: required_secret("TURNSTILE_SECRET_KEY", local.map(|_| TURNSTILE_TEST_SECRET.into()))?,
            siteverify_url: match var("TURNSTILE_SITEVERIFY_URL") {
                Some(url) => parse_url("TURNSTILE_SITEVERIFY_URL", &url)?,
                None => TURNSTILE_SITEVERIFY_URL.into(),
            },
        };

        let identity = match var("IDENTITY_PROVIDER").as_deref() {
            Some("dev") if local.is_some() => IdentityConfig::Dev,
            Some("dev") => {
                return Err(ConfigError::Malformed {
                    name: "IDENTITY_PROVIDER",
                    reason: "the dev identity provider is for connector serve only".into(),
                });
            }
            None if local.is_some() && var("SUPABASE_URL").is_none() => IdentityConfig::Dev,
            Some("supabase") | None => IdentityConfig::Supabase {
                url: parse_url("SUPABASE_URL", &required("SUPABASE_URL", None)?)?.trim_end_matches('/').to_owned(),
                anon_key: required_secret("SUPABASE_ANON_KEY", None)?,
                captcha: match var("TURNSTILE_VERIFIED_BY").as_deref() {
                    None | Some("connector") => CaptchaVerifier::Connector,
                    Some("supabase") => CaptchaVerifier::Supabase,
                    Some(_) => {
                        return Err(ConfigError::Malformed {
                            name: "TURNSTILE_VERIFIED_BY",
                            reason: "expected connector or supabase".into(),
                        });
                    }
                },
            },
            Some(_) => {
                return Err(ConfigError::Malformed {
                    name: "IDENTITY_PROVIDER",
                    reason: "expected supabase or dev".into(),
                });
            }
        };
        let sessions = session_config(&var, secret("SUPABASE_JWT_SECRET"), local.is_some())?;

        if local.is_none() && turnstile.secret.expose_secret() == TURNSTILE_TEST_SECRET {
            return Err(ConfigError::Malformed {
                name: "TURNSTILE_SECRET_KEY",
                reason: "Cloudflare's always-pass test secret is for local runs only".into(),
            });
        }

        let admin_token = required_secret("ADMIN_TOKEN", local.map(|_| random_secret()))?;
        if admin_token.expose_secret().len() < 32 {
            return Err(ConfigError::Malformed {
                name: "ADMIN_TOKEN",
                reason: "must be at least 32 characters".into(),
            });
        }

        let enable_voice = match var("NEXT_PUBLIC_ENABLE_VOICE") {
            Some(v) => parse_bool("NEXT_PUBLIC_ENABLE_VOICE", &v)?,
            None => false,
        };

        Ok(Config {
            public_base_url,
            database,
            signing_keys,
            mcp,
            turnstile,
            identity,
            sessions,
            admin_token,
            enable_voice,
            voice_url: match var("VOICE_URL") {
                Some(url) => parse_url("VOICE_URL", &url)?,
                None => "https://dexter.cash/voice".into(),
            },
            metrics_namespace: match var("METRICS_NAMESPACE") {
                None => DEFAULT_METRICS_NAMESPACE.into(),
                // CloudWatch: 1 to 255 characters, no colon.
                Some(ns) if !ns.is_empty() && ns.len() <= 255 && !ns.contains(':') => ns,
                Some(_) => {
                    return Err(ConfigError::Malformed {
                        name: "METRICS_NAMESPACE",
                        reason: "expected 1 to 255 characters without a colon".into(),
                    });
                }
            },
        })
    }
}

/// The session settings: Supabase's issuer and JWKS derive from `SUPABASE_URL` (required
/// in a deployment, Supabase's local stack for `connector serve`).
fn session_config(
    var: &dyn Fn(&str) -> Option<String>,
    legacy_secret: Option<SecretString>,
    local: bool,
) -> Result<SessionConfig, ConfigError> {
    let url = match var("SUPABASE_URL") {
        Some(url) => parse_url("SUPABASE_URL", &url)?,
        None if local => SUPABASE_LOCAL_URL.to_owned(),
        None => return Err(ConfigError::Missing("SUPABASE_URL")),
    };
    let url = url.trim_end_matches('/');
    if legacy_secret.as_ref().is_some_and(|s| s.expose_secret().len() < 32) {
        return Err(ConfigError::Malformed {
            name: "SUPABASE_JWT_SECRET",
            reason: "must be at least 32 characters".into(),
        });
    }
    let jwks_min_refetch = match var("SUPABASE_JWKS_MIN_REFETCH_SECONDS") {
        None => std::time::Duration::from_secs(30),
        Some(text) => match text.parse::<u64>() {
            Ok(seconds) if (1..=3600).contains(&seconds) => std::time::Duration::from_secs(seconds),
            _ => {
                return Err(ConfigError::Malformed {
                    name: "SUPABASE_JWKS_MIN_REFETCH_SECONDS",
                    reason: "expected seconds between 1 and 3600".into(),
                });
            }
        },
    };
    Ok(SessionConfig {
        issuer: format!("{url}/auth/v1"),
        jwks_url: format!("{url}/auth/v1/.well-known/jwks.json"),
        legacy_secret,
        jwks_min_refetch,
        approval_requires_aal2: match var("DEXTER_APPROVAL_REQUIRES_AAL2") {
            Some(v) => parse_bool("DEXTER_APPROVAL_REQUIRES_AAL2", &v)?,
            None => false,
        },
    })
}

fn parse_bool(name: &'static str, value: &str) -> Result<bool, ConfigError> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err(ConfigError::Malformed { name, reason: "expected true or false".into() }),
    }
}

fn parse_url(name: &'static str, value: &str) -> Result<String, ConfigError> {
    let url =
        reqwest::Url::parse(value).map_err(|e| ConfigError::Malformed { name, reason: format!("not a URL ({e})") })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(ConfigError::Malformed { name, reason: "expected an http(s) URL".into() });
    }
    Ok(value.to_owned())
}

/// The public origin: https in a deployment (ChatGPT refuses plain http), no path.
fn parse_base_url(value: &str, local: bool) -> Result<String, ConfigError> {
    const NAME: &str = "PUBLIC_BASE_URL";
    let url = reqwest::Url::parse(value)
        .map_err(|e| ConfigError::Malformed { name: NAME, reason: format!("not a URL ({e})") })?;
    let scheme_ok = url.scheme() == "https" || (local && url.scheme() == "http");
    if !scheme_ok {
        return Err(ConfigError::Malformed { name: NAME, reason: "expected an https:// origin".into() });
    }
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        return Err(ConfigError::Malformed {
            name: NAME,
            reason: "expected an origin with no query or fragment".into(),
        });
    }
    Ok(value.trim_end_matches('/').to_owned())
}

/// 256 random bits, base64url: a throwaway secret for local runs.
pub fn random_secret() -> String {
    use base64::Engine;
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lambda_env() -> HashMap<String, String> {
        let keys = serde_json::json!([SigningKeys::generate_jwk()]).to_string();
        [
            ("PUBLIC_BASE_URL", "https://api.dexter.cash/"),
            ("SIGNING_KEYS", keys.as_str()),
            ("MCP_URL", "https://mcp.dexter.cash/mcp"),
            ("MCP_JWT_SECRET", "0123456789abcdef0123456789abcdef"),
            ("DATABASE_URL", "postgres://u@db.example/postgres"),
            ("TURNSTILE_SITE_KEY", "site"),
            ("TURNSTILE_SECRET_KEY", "secret"),
            ("ADMIN_TOKEN", "admin-token-admin-token-admin-token"),
            ("SUPABASE_URL", "https://xyz.supabase.co"),
            ("SUPABASE_ANON_KEY", "anon"),
            ("SUPABASE_JWT_SECRET", "supabase-jwt-secret-supabase-jwt-secret"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    #[test]
    fn a_complete_lambda_environment_loads() {
        let config = Config::from_sources(Mode::Lambda, &lambda_env(), &SecretValues::default()).unwrap();
        assert_eq!(config.public_base_url, "https://api.dexter.cash");
        assert!(config.database.unwrap().tls);
        assert!(!config.enable_voice);
    }

    #[test]
    fn a_database_ca_needs_tls_and_a_pem_certificate() {
        let pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
        let mut env = lambda_env();
        env.insert("DATABASE_CA_PEM".into(), pem.into());
        let config = Config::from_sources(Mode::Lambda, &env, &SecretValues::default()).unwrap();
        assert_eq!(config.database.unwrap().ca_pem.as_deref(), Some(pem.trim()));

        env.insert("DATABASE_TLS".into(), "false".into());
        let error = Config::from_sources(Mode::Lambda, &env, &SecretValues::default()).unwrap_err().to_string();
        assert_eq!(error, "configuration error: DATABASE_CA_PEM is malformed: set, but DATABASE_TLS is false");

        env.remove("DATABASE_TLS");
        env.insert("DATABASE_CA_PEM".into(), "prod-ca-2021.crt".into());
        let error = Config::from_sources(Mode::Lambda, &env, &SecretValues::default()).unwrap_err().to_string();
        assert_eq!(error, "configuration error: DATABASE_CA_PEM is malformed: not a PEM certificate");
    }

    #[test]
    fn each_missing_setting_is_named() {
        for name in [
            "PUBLIC_BASE_URL",
            "SIGNING_KEYS",
            "MCP_URL",
            "MCP_JWT_SECRET",
            "DATABASE_URL",
            "ADMIN_TOKEN",
            "SUPABASE_URL",
            "SUPABASE_ANON_KEY",
        ] {
            let mut env = lambda_env();
            env.remove(name);
            let err = Config::from_sources(Mode::Lambda, &env, &SecretValues::default()).unwrap_err();
            assert_eq!(err.to_string(), format!("configuration error: {name} is not set"));
        }
    }

    #[test]
    fn malformed_settings_are_named_without_their_value() {
        let mut env = lambda_env();
        env.insert("SIGNING_KEYS".into(), "[{\"kty\":\"OKP\",\"d\":\"top-secret\"".into());
        let err = Config::from_sources(Mode::Lambda, &env, &SecretValues::default()).unwrap_err().to_string();
        assert!(err.starts_with("configuration error: SIGNING_KEYS is malformed"), "{err}");
        assert!(!err.contains("top-secret"));

        let mut env = lambda_env();
        env.insert("PUBLIC_BASE_URL".into(), "http://api.dexter.cash".into());
        let err = Config::from_sources(Mode::Lambda, &env, &SecretValues::default()).unwrap_err().to_string();
        assert!(err.contains("PUBLIC_BASE_URL is malformed"), "{err}");

        let mut env = lambda_env();
        env.insert("NEXT_PUBLIC_ENABLE_VOICE".into(), "maybe".into());
        let err = Config::from_sources(Mode::Lambda, &env, &SecretValues::default()).unwrap_err().to_string();
        assert!(err.contains("NEXT_PUBLIC_ENABLE_VOICE is malformed"), "{err}");
    }

    #[test]
    fn secrets_manager_values_win_over_the_environment() {
        let mut secrets = SecretValues::default();
        secrets.insert("DATABASE_URL", "postgres://from-secrets-manager/db");
        let config = Config::from_sources(Mode::Lambda, &lambda_env(), &secrets).unwrap();
        assert_eq!(config.database.unwrap().url.expose_secret(), "postgres://from-secrets-manager/db");
    }

    #[test]
    fn a_deployment_refuses_turnstiles_always_pass_test_secret() {
        let mut env = lambda_env();
        env.insert("TURNSTILE_SECRET_KEY".into(), TURNSTILE_TEST_SECRET.into());
        let err = Config::from_sources(Mode::Lambda, &env, &SecretValues::default()).unwrap_err().to_string();
        assert!(err.contains("TURNSTILE_SECRET_KEY is malformed"), "{err}");
    }

    #[test]
    fn sessions_trust_the_projects_issuer_and_keys_and_the_legacy_secret_is_optional() {
        let config = Config::from_sources(Mode::Lambda, &lambda_env(), &SecretValues::default()).unwrap();
        assert_eq!(config.sessions.issuer, "https://xyz.supabase.co/auth/v1");
        assert_eq!(config.sessions.jwks_url, "https://xyz.supabase.co/auth/v1/.well-known/jwks.json");
        assert!(config.sessions.legacy_secret.is_some());
        assert_eq!(config.sessions.jwks_min_refetch, std::time::Duration::from_secs(30));
        assert!(!config.sessions.approval_requires_aal2);

        let mut env = lambda_env();
        env.remove("SUPABASE_JWT_SECRET");
        env.insert("DEXTER_APPROVAL_REQUIRES_AAL2".into(), "true".into());
        env.insert("SUPABASE_JWKS_MIN_REFETCH_SECONDS".into(), "5".into());
        let config = Config::from_sources(Mode::Lambda, &env, &SecretValues::default()).unwrap();
        assert!(config.sessions.legacy_secret.is_none());
        assert!(config.sessions.approval_requires_aal2);
        assert_eq!(config.sessions.jwks_min_refetch, std::time::Duration::from_secs(5));

        for (name, value) in [
            ("SUPABASE_JWT_SECRET", "short"),
            ("DEXTER_APPROVAL_REQUIRES_AAL2", "sometimes"),
            ("SUPABASE_JWKS_MIN_REFETCH_SECONDS", "0"),
        ] {
            let mut env = lambda_env();
            env.insert(name.into(), value.into());
            let err = Config::from_sources(Mode::Lambda, &env, &SecretValues::default()).unwrap_err().to_string();
            assert!(err.starts_with(&format!("configuration error: {name} is malformed")), "{err}");
        }
    }

    #[test]
    fn local_mode_runs_on_embedded_defaults() {
        let config =
            Config::from_sources(Mode::Local { port: 3000 }, &HashMap::new(), &SecretValues::default()).unwrap();
        assert_eq!(config.public_base_url, "http://127.0.0.1:3000");
        assert!(config.database.is_none());
        assert!(config.mcp.url.is_none());
        assert_eq!(config.turnstile.site_key, TURNSTILE_TEST_SITE_KEY);
        assert_eq!(config.sessions.issuer, format!("{SUPABASE_LOCAL_URL}/auth/v1"));
        assert!(config.sessions.legacy_secret.is_none());
    }
}
