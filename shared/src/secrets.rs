//! Reading the connector's secrets from one AWS Secrets Manager secret, once per cold
//! start. The secret's value is a JSON object whose keys are the setting names of
//! [`SECRET_NAMES`], e.g. `{"SIGNING_KEYS": "[…]", "MCP_JWT_SECRET": "…"}`.
//!
//! One `GetSecretValue` call, signed with AWS Signature Version 4 over the connector's
//! own HTTP client. The AWS SDK would do the same at the price of a second TLS stack and
//! crypto library (aws-lc) in every binary: a third of its size and of its cold build.
//! Region, credentials and endpoint come from the standard variables the Lambda runtime
//! sets (`AWS_REGION`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`);
//! `AWS_ENDPOINT_URL_SECRETS_MANAGER` or `AWS_ENDPOINT_URL` point it at a stand-in such
//! as moto in tests, as they would the SDK.

use std::collections::HashMap;

use std::time::Duration;

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
    /// `https://secretsmanager.<region>.amazonaws.com` unless overridden.
    pub endpoint: reqwest::Url,
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
        let endpoint = var("AWS_ENDPOINT_URL_SECRETS_MANAGER")
            .or_else(|| var("AWS_ENDPOINT_URL"))
            .unwrap_or_else(|| format!("https://secretsmanager.{region}.amazonaws.com"));
        let endpoint = reqwest::Url::parse(&endpoint)
            .ok()
            .filter(|u| matches!(u.scheme(), "https" | "http") && u.host_str().is_some())
            .ok_or("the Secrets Manager endpoint is not an http(s) URL")?;
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
    let http = crate::tls::client_builder()
        .connect_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(5))
        .build()
        .map_err(|e| failed(secret_id, format!("no HTTP client: {e}")))?;
    fetch_with(&http, &aws, secret_id).await
}

/// Reads the secret with a given client and settings. Throttling, server errors and
/// network failures are retried twice (a cold start should survive a blip).
pub async fn fetch_with(
    http: &reqwest::Client,
    aws: &AwsSettings,
    secret_id: &str,
) -> Result<SecretValues, SecretsError> {
    let mut attempt = 0;
    let text = loop {
        attempt += 1;
        match get_secret_value(http, aws, secret_id).await {
            Ok(text) => break text,
            Err(Failure { retry: true, .. }) if attempt < 3 => {
                tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
            }
            Err(Failure { reason, .. }) => return Err(failed(secret_id, reason)),
        }
    };
    SecretValues::from_secret_string(secret_id, &text)
}

fn failed(secret_id: &str, reason: impl Into<String>) -> SecretsError {
    SecretsError { secret_id: secret_id.to_owned(), reason: reason.into() }
}

/// A failed Secrets Manager call; `retry` when trying again may help.
#[derive(Debug)]
pub struct Failure {
    pub reason: String,
    pub retry: bool,
}

/// One signed `GetSecretValue` call; the secret's `SecretString` on success.
async fn get_secret_value(http: &reqwest::Client, aws: &AwsSettings, secret_id: &str) -> Result<String, Failure> {
    let answer = call(http, aws, "GetSecretValue", &serde_json::json!({ "SecretId": secret_id })).await?;
    answer["SecretString"].as_str().map(str::to_owned).ok_or(Failure {
        reason: "the secret has no SecretString (binary secrets are not supported)".into(),
        retry: false,
    })
}

/// One signed call of a Secrets Manager operation (AWS JSON 1.1 protocol), e.g.
/// `GetSecretValue`; its JSON answer on success.
pub async fn call(
    http: &reqwest::Client,
    aws: &AwsSettings,
    operation: &str,
    input: &serde_json::Value,
) -> Result<serde_json::Value, Failure> {
    let body = input.to_string();
    let now = chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string();
    let host = match aws.endpoint.port() {
        Some(port) => format!("{}:{port}", aws.endpoint.host_str().unwrap_or_default()),
        None => aws.endpoint.host_str().unwrap_or_default().to_owned(),
    };
    let mut headers =
        vec![("content-type", "application/x-amz-json-1.1".to_owned()), ("host", host), ("x-amz-date", now.clone())];
    if let Some(token) = &aws.session_token {
        headers.push(("x-amz-security-token", token.expose_secret().to_owned()));
    }
    headers.push(("x-amz-target", format!("secretsmanager.{operation}")));
    let authorization = sigv4::authorization(
        &sigv4::Request {
            method: "POST",
            path: aws.endpoint.path(),
            query: "",
            headers: &headers,
            body: body.as_bytes(),
        },
        &sigv4::Credentials {
            access_key_id: &aws.access_key_id,
            secret_access_key: &aws.secret_access_key,
            region: &aws.region,
            service: "secretsmanager",
        },
        &now,
    );

    // reqwest writes the Host header itself, from the same URL.
    let mut request = http.post(aws.endpoint.clone()).header("authorization", authorization).body(body);
    for (name, value) in headers.iter().filter(|(name, _)| *name != "host") {
        request = request.header(*name, value);
    }
    let response = request.send().await.map_err(|e| Failure { reason: format!("request failed: {e}"), retry: true })?;
    let status = response.status();
    let text =
        response.text().await.map_err(|e| Failure { reason: format!("reading the answer: {e}"), retry: true })?;
    let answer: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    if status.is_success() {
        return Ok(answer);
    }
    // AWS JSON protocol errors: {"__type": "…#ResourceNotFoundException", "message": "…"};
    // an authentication failure may come as a query-protocol XML <Error> instead.
    let xml = |tag: &str| {
        let start = text.find(&format!("<{tag}>"))? + tag.len() + 2;
        text[start..].split(&format!("</{tag}>")).next()
    };
    let kind = answer["__type"].as_str().or_else(|| xml("Code")).unwrap_or("unknown error");
    let kind = kind.rsplit('#').next().unwrap_or(kind);
    let message = answer["message"].as_str().or(answer["Message"].as_str()).or_else(|| xml("Message")).unwrap_or("");
    let retry = status.is_server_error() || kind.contains("Throttling");
    Err(Failure { reason: format!("{} {kind}: {message}", status.as_u16()), retry })
}

/// AWS Signature Version 4, as far as one JSON POST needs it: the canonical request, the
/// string to sign, the derived key and the `Authorization` header.
pub mod sigv4 {
    use hmac::{Hmac, Mac};
    use secrecy::{ExposeSecret, SecretString};
    use sha2::{Digest, Sha256};

    pub struct Request<'a> {
        pub method: &'a str,
        /// Already URI-encoded, e.g. `/`.
        pub path: &'a str,
        /// Canonical query string (sorted, encoded); empty for none.
        pub query: &'a str,
        /// Lower-case names, every header that is signed (at least `host` and `x-amz-date`).
        pub headers: &'a [(&'a str, String)],
        pub body: &'a [u8],
    }

    pub struct Credentials<'a> {
        pub access_key_id: &'a str,
        pub secret_access_key: &'a SecretString,
        pub region: &'a str,
        pub service: &'a str,
    }

    /// The `Authorization` header for `request` at `amz_date` (`YYYYMMDDTHHMMSSZ`, the
    /// value of its `x-amz-date` header).
    pub fn authorization(request: &Request<'_>, credentials: &Credentials<'_>, amz_date: &str) -> String {
        let mut headers: Vec<(&str, &str)> = request.headers.iter().map(|(n, v)| (*n, v.trim())).collect();
        headers.sort_by(|a, b| a.0.cmp(b.0));
        let signed_headers = headers.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(";");
        let canonical_headers: String = headers.iter().map(|(n, v)| format!("{n}:{v}\n")).collect();
        let canonical_request = format!(
            "{}\n{}\n{}\n{canonical_headers}\n{signed_headers}\n{}",
            request.method,
            request.path,
            request.query,
            hex(&Sha256::digest(request.body))
        );
        let day = &amz_date[..8.min(amz_date.len())];
        let scope = format!("{day}/{}/{}/aws4_request", credentials.region, credentials.service);
        let string_to_sign =
            format!("AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}", hex(&Sha256::digest(canonical_request.as_bytes())));
        let key = signing_key(credentials.secret_access_key, day, credentials.region, credentials.service);
        let signature = hex(&hmac(&key, string_to_sign.as_bytes()));
        format!(
            "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
            credentials.access_key_id
        )
    }

    /// kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, day), region), service), "aws4_request").
    pub fn signing_key(secret_access_key: &SecretString, day: &str, region: &str, service: &str) -> Vec<u8> {
        let k_date = hmac(format!("AWS4{}", secret_access_key.expose_secret()).as_bytes(), day.as_bytes());
        let k_region = hmac(&k_date, region.as_bytes());
        let k_service = hmac(&k_region, service.as_bytes());
        hmac(&k_service, b"aws4_request")
    }

    fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
        let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
        mac.update(data);
        mac.finalize().into_bytes().to_vec()
    }

    pub fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        // The worked example of AWS's "Create a signed AWS API request" guide (IAM
        // ListUsers, 2015-08-30), whose key, canonical request and signature it publishes.
        #[test]
        fn matches_the_published_example() {
            let secret = SecretString::from("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");
            assert_eq!(
                hex(&signing_key(&secret, "20150830", "us-east-1", "iam")),
                "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9"
            );
            let headers = [
                ("content-type", "application/x-www-form-urlencoded; charset=utf-8".to_owned()),
                ("host", "iam.amazonaws.com".to_owned()),
                ("x-amz-date", "20150830T123600Z".to_owned()),
            ];
            let request = Request {
                method: "GET",
                path: "/",
                query: "Action=ListUsers&Version=2010-05-08",
                headers: &headers,
                body: b"",
            };
            let credentials = Credentials {
                access_key_id: "AKIDEXAMPLE",
                secret_access_key: &secret,
                region: "us-east-1",
                service: "iam",
            };
            assert_eq!(
                authorization(&request, &credentials, "20150830T123600Z"),
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, \
                 SignedHeaders=content-type;host;x-amz-date, \
                 Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
            );
        }
    }
}
