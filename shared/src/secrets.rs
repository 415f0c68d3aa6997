//! Reading the connector's secrets from one AWS Secrets Manager secret, once per cold
//! start. The secret's value is a JSON object whose keys are the setting names of
//! [`crate::config::SECRET_NAMES`], e.g. `{"SIGNING_KEYS": "[…]", "MCP_JWT_SECRET": "…"}`.
//!
//! The SDK resolves region, credentials and endpoint the standard way (the Lambda role;
//! `AWS_ENDPOINT_URL` points it at a local stand-in such as moto in tests).

use std::collections::HashMap;

use secrecy::SecretString;

use crate::config::{ConfigError, SECRET_NAMES};

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
    pub fn from_secret_string(secret_id: &str, text: &str) -> Result<Self, ConfigError> {
        let malformed = |reason: String| ConfigError::SecretsManager { secret_id: secret_id.to_owned(), reason };
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

/// Reads the secret with the process's default AWS configuration.
pub async fn fetch(secret_id: &str) -> Result<SecretValues, ConfigError> {
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    fetch_with(&aws_sdk_secretsmanager::Client::new(&sdk), secret_id).await
}

/// Reads the secret with a given client.
pub async fn fetch_with(client: &aws_sdk_secretsmanager::Client, secret_id: &str) -> Result<SecretValues, ConfigError> {
    let output =
        client.get_secret_value().secret_id(secret_id).send().await.map_err(|e| ConfigError::SecretsManager {
            secret_id: secret_id.to_owned(),
            reason: aws_sdk_secretsmanager::error::DisplayErrorContext(e).to_string(),
        })?;
    let text = output.secret_string().ok_or_else(|| ConfigError::SecretsManager {
        secret_id: secret_id.to_owned(),
        reason: "the secret has no SecretString (binary secrets are not supported)".into(),
    })?;
    SecretValues::from_secret_string(secret_id, text)
}
