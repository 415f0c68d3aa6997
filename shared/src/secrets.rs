//! Reading the connector's secrets from one AWS Secrets Manager secret, once per cold
//! start. The secret's value is a JSON object whose keys are the setting names of
//! [`SECRET_NAMES`], e.g. `{"SIGNING_KEYS": "[…]", "MCP_JWT_SECRET": "…"}`.
//!
//! One `GetSecretValue` call through `aws-sdk-secretsmanager`, trimmed: no `aws-config`
//! (whose credential chain probes files and the instance metadata service) and no aws-lc
//! (the smithy HTTP client runs on rustls with *ring*, like the rest of the connector).
//! Region, credentials and endpoint come from the standard variables the Lambda runtime
//! sets (`AWS_REGION`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`);
//! `AWS_ENDPOINT_URL_SECRETS_MANAGER` or `AWS_ENDPOINT_URL` point it at a stand-in such
//! as moto in tests.

use std::collections::HashMap;
use std::time::Duration;

use aws_credential_types::Credentials;
use aws_sdk_secretsmanager as sm;
use aws_sdk_secretsmanager::error::SdkError;
use aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueError;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_types::retry::RetryConfig;
use aws_smithy_types::timeout::TimeoutConfig;
use secrecy::{ExposeSecret, SecretString};

/// The names of the settings that are secrets, as env vars and as keys of the
/// Secrets Manager secret's JSON object.
pub const SECRET_NAMES: [&str; 8] = [
    "SIGNING_KEYS",
    "MCP_JWT_SECRET",
    "DATABASE_URL",
    "TURNSTILE_SECRET_KEY",
    "ADMIN_TOKEN",
    "SUPABASE_ANON_KEY",
    "SUPABASE_JWT_SECRET",
    // Not secret, but kept beside the database URL it belongs to.
    "DATABASE_CA_PEM",
];

/// The secret could not be read or is malformed. Names the secret, never a value.
#[derive(Debug, thiserror::Error)]
#[error("could not read secret {secret_id} from AWS Secrets Manager: {reason}")]
pub struct SecretsError {
    pub secret_id: String,
    pub reason: String,
}

/// Secret settings by name. `Debug` never prints values.
#[derive(Clone, Default)]
pub struct SecretValues(HashMap<String, SecretString>);

impl std::fmt::Debug for SecretValues {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

impl SecretValues {
    pub fn get(&self, name: &str) -> Option<&SecretString> {
        self.0.get(name)
    }

    pub fn insert(&mut self, name: &str, value: &str) {
        self.0.insert(name.to_owned(), SecretString::from(value.to_owned()));
    }

    /// Parses a secret's `SecretString`: a JSON object of string values. Unknown keys
    /// are refused so a typo does not silently fall back to an env var.
    pub fn from_secret_string(secret_id: &str, text: &str) -> Result<Self, SecretsError> {
        let malformed = |reason: String| SecretsError { secret_id: secret_id.to_owned(), reason };
        let object: HashMap<String, serde_json::Value> = serde_json::from_str(text).map_err(|e| {
            malformed(format!(
                "the value is not a JSON object ({:?} error at line {} column {})",
                e.classify(),
                e.line(),
                e.column()
            ))
        })?;
        let mut values = SecretValues::default();
        for (name, value) in object {
            if !SECRET_NAMES.contains(&name.as_str()) {
                return Err(malformed(format!("unexpected key {name:?}; expected some of {SECRET_NAMES:?}")));
            }
            // SIGNING_KEYS may be stored as a JSON array rather than a string of one.
            let text = match value {
                serde_json::Value::String(s) => s,
                serde_json::Value::Array(_) => value.to_string(),
                _ => return Err(malformed(format!("{name} must be a string"))),
            };
            values.0.insert(name, SecretString::from(text));
        }
        Ok(values)
    }
}

/// Where and as whom to call Secrets Manager.
pub struct AwsSettings {
    pub region: String,
    /// An endpoint other than the region's `https://secretsmanager.<region>.amazonaws.com`
    /// (a stand-in such as moto in tests).
    pub endpoint: Option<reqwest::Url>,
    pub access_key_id: String,
    pub secret_access_key: SecretString,
    /// Set for temporary credentials, such as a Lambda execution role's.
    pub session_token: Option<SecretString>,
}

impl AwsSettings {
    /// Reads the standard AWS variables from `env`.
    pub fn from_env(env: &HashMap<String, String>) -> Result<AwsSettings, String> {
        let var = |name: &str| env.get(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let region = var("AWS_REGION").or_else(|| var("AWS_DEFAULT_REGION")).ok_or("AWS_REGION is not set")?;
        let endpoint = match var("AWS_ENDPOINT_URL_SECRETS_MANAGER").or_else(|| var("AWS_ENDPOINT_URL")) {
            None => None,
            Some(endpoint) => Some(
                reqwest::Url::parse(&endpoint)
                    .ok()
                    .filter(|u| matches!(u.scheme(), "https" | "http") && u.host_str().is_some())
                    .ok_or("the Secrets Manager endpoint is not an http(s) URL")?,
            ),
        };
        Ok(AwsSettings {
            region,
            endpoint,
            access_key_id: var("AWS_ACCESS_KEY_ID").ok_or("AWS_ACCESS_KEY_ID is not set")?,
            secret_access_key: var("AWS_SECRET_ACCESS_KEY").ok_or("AWS_SECRET_ACCESS_KEY is not set")?.into(),
            session_token: var("AWS_SESSION_TOKEN").map(SecretString::from),
        })
    }
}

/// Reads the secret with the process's AWS settings.
pub async fn fetch(secret_id: &str) -> Result<SecretValues, SecretsError> {
    let env: HashMap<String, String> = std::env::vars().collect();
    let aws = AwsSettings::from_env(&env).map_err(|reason| failed(secret_id, reason))?;
    fetch_with(&aws, secret_id).await
}

/// Reads the secret with the given settings: one `GetSecretValue` through the AWS SDK.
/// Throttling, server errors and network failures are retried twice (the SDK's standard
/// retry mode with three attempts: a cold start should survive a blip), each attempt
/// within 5 s.
pub async fn fetch_with(aws: &AwsSettings, secret_id: &str) -> Result<SecretValues, SecretsError> {
    let output = client(aws)
        .get_secret_value()
        .secret_id(secret_id)
        .send()
        .await
        .map_err(|error| failed(secret_id, describe(&error)))?;
    let text = output
        .secret_string()
        .ok_or_else(|| failed(secret_id, "the secret has no SecretString (binary secrets are not supported)"))?;
    SecretValues::from_secret_string(secret_id, text)
}

/// The roots AWS service endpoints chain to (Amazon Trust Services: Amazon Root CA 1–4,
/// and Starfield Services Root G2, which cross-signs them), the only ones trusted for
/// Secrets Manager. Parsing five roots at cold start instead of the system bundle's ~140
/// (which the smithy client loads by default) keeps the init phase short.
const AWS_ROOTS: &[u8] = include_bytes!("aws-roots.pem");

/// A Secrets Manager client for `aws`: no `aws-config` (no profile files, IMDS or SSO
/// lookups at cold start), static credentials from the Lambda environment, and the
/// smithy HTTP client on rustls with *ring*, the crypto the rest of the connector uses,
/// trusting [`AWS_ROOTS`] only.
fn client(aws: &AwsSettings) -> sm::Client {
    use aws_smithy_http_client::tls::{Provider, TlsContext, TrustStore, rustls_provider::CryptoMode};
    let trust = TrustStore::empty().with_native_roots(false).with_pem_certificate(AWS_ROOTS);
    let tls = TlsContext::builder().with_trust_store(trust).build().expect("a trust store of PEM roots is valid");
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .tls_context(tls)
        .build_https();
    let credentials = Credentials::new(
        aws.access_key_id.clone(),
        aws.secret_access_key.expose_secret().to_owned(),
        aws.session_token.as_ref().map(|t| t.expose_secret().to_owned()),
        None,
        "lambda-environment",
    );
    let mut config = sm::Config::builder()
        .behavior_version(sm::config::BehaviorVersion::latest())
        .region(sm::config::Region::new(aws.region.clone()))
        .credentials_provider(credentials)
        .http_client(http)
        .sleep_impl(aws_smithy_async::rt::sleep::TokioSleep::new())
        .retry_config(RetryConfig::standard().with_max_attempts(3))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(2))
                .operation_attempt_timeout(Duration::from_secs(5))
                .operation_timeout(Duration::from_secs(16))
                .build(),
        );
    if let Some(endpoint) = &aws.endpoint {
        config = config.endpoint_url(endpoint.as_str());
    }
    sm::Client::from_conf(config.build())
}

/// What went wrong, for the startup error line: the HTTP status and AWS error code when
/// the service answered, the failure's chain otherwise. Never a credential.
fn describe(error: &SdkError<GetSecretValueError, HttpResponse>) -> String {
    match error {
        SdkError::ServiceError(service) => {
            let status = service.raw().status().as_u16();
            // Secrets Manager answers errors in JSON, which the SDK parses; an
            // authentication failure may come as a query-protocol XML <Error> instead.
            let body = service.raw().body().bytes().map(String::from_utf8_lossy).unwrap_or_default();
            let xml = |tag: &str| {
                let start = body.find(&format!("<{tag}>"))? + tag.len() + 2;
                body[start..].split(&format!("</{tag}>")).next().map(str::to_owned)
            };
            let code = service.err().meta().code().map(str::to_owned).or_else(|| xml("Code"));
            let message = service.err().meta().message().map(str::to_owned).or_else(|| xml("Message"));
            format!("{status} {}: {}", code.as_deref().unwrap_or("unknown error"), message.unwrap_or_default())
        }
        other => format!("{}", aws_smithy_types::error::display::DisplayErrorContext(other)),
    }
}

fn failed(secret_id: &str, reason: impl Into<String>) -> SecretsError {
    SecretsError { secret_id: secret_id.to_owned(), reason: reason.into() }
}

#[cfg(test)]
mod tests {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;

    use super::*;

    #[test]
    fn the_aws_roots_are_five_valid_trust_anchors() {
        let certs: Vec<CertificateDer<'_>> =
            CertificateDer::pem_slice_iter(AWS_ROOTS).collect::<Result<_, _>>().expect("PEM parses");
        let mut roots = rustls::RootCertStore::empty();
        let (valid, invalid) = roots.add_parsable_certificates(certs);
        assert_eq!((valid, invalid), (5, 0));
    }

    #[test]
    fn settings_come_from_the_standard_variables() {
        let env: HashMap<String, String> = [
            ("AWS_REGION", "eu-west-1"),
            ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
            ("AWS_SESSION_TOKEN", "token"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let aws = AwsSettings::from_env(&env).expect("complete");
        assert_eq!(aws.region, "eu-west-1");
        assert!(aws.endpoint.is_none(), "the SDK resolves the regional endpoint");
        let mut with_endpoint = env.clone();
        with_endpoint.insert("AWS_ENDPOINT_URL".into(), "ftp://nope".into());
        assert!(AwsSettings::from_env(&with_endpoint).is_err());
        let mut missing = env;
        missing.remove("AWS_SECRET_ACCESS_KEY");
        assert_eq!(AwsSettings::from_env(&missing).err().as_deref(), Some("AWS_SECRET_ACCESS_KEY is not set"));
    }
}
