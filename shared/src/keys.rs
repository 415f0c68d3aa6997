//! The connector's signing keys (Ed25519, RFC 8037 JWKs) and the JWKS it publishes.
//!
//! `SIGNING_KEYS` is a JSON array of Ed25519 JWKs. The first one must be private (`d`)
//! and signs every new access token; the ones after it are previous keys, private or
//! public only, still published at `/.well-known/jwks.json` so tokens they signed keep
//! verifying until those tokens expire (one hour after rotation at most). Rotation is
//! therefore: put a new key first, keep the old one second, drop it an hour later.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ed25519_dalek::pkcs8::EncodePrivateKey;
use ed25519_dalek::{SigningKey, VerifyingKey};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Why a key set could not be loaded. Never includes key material.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("expected a JSON array of Ed25519 JWKs ({0})")]
    NotJson(String),
    #[error("the key list is empty")]
    Empty,
    #[error("key {0:?} is not an Ed25519 OKP key")]
    WrongType(String),
    #[error("the first key ({0:?}) signs new tokens, so it needs its private part \"d\"")]
    FirstKeyNotPrivate(String),
    #[error("key {0:?} has a malformed \"x\" or \"d\"")]
    Malformed(String),
    #[error("key {0:?}: \"x\" does not match the private key \"d\"")]
    Mismatch(String),
    #[error("two keys share the kid {0:?}")]
    DuplicateKid(String),
}

/// A JWK as configured. `d` (the private seed) is optional for previous keys.
#[derive(Deserialize)]
struct ConfiguredJwk {
    kty: String,
    #[serde(default)]
    crv: String,
    kid: String,
    x: String,
    d: Option<SecretString>,
}

/// One public key, as published in the JWKS and used to verify.
#[derive(Clone)]
pub struct PublicKey {
    pub kid: String,
    x: String,
    decoding: DecodingKey,
}

/// The key that signs new tokens plus every key that still verifies.
#[derive(Clone)]
pub struct SigningKeys {
    signer_kid: String,
    signer: EncodingKey,
    public: Vec<PublicKey>,
}

impl std::fmt::Debug for SigningKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kids: Vec<&str> = self.public.iter().map(|k| k.kid.as_str()).collect();
        f.debug_struct("SigningKeys").field("signer", &self.signer_kid).field("kids", &kids).finish()
    }
}

impl SigningKeys {
    /// Parses the `SIGNING_KEYS` setting.
    pub fn from_json(text: &str) -> Result<Self, KeyError> {
        let configured: Vec<ConfiguredJwk> = serde_json::from_str(text).map_err(|e| {
            // Position and category only: serde's message could quote key material.
            KeyError::NotJson(format!("{:?} error at line {} column {}", e.classify(), e.line(), e.column()))
        })?;
        let first = configured.first().ok_or(KeyError::Empty)?;
        let Some(first_d) = &first.d else {
            return Err(KeyError::FirstKeyNotPrivate(first.kid.clone()));
        };
        let signer_seed = decode_32(first_d.expose_secret()).ok_or_else(|| KeyError::Malformed(first.kid.clone()))?;
        let signer = SigningKey::from_bytes(&signer_seed);

        let mut public = Vec::with_capacity(configured.len());
        for jwk in &configured {
            if jwk.kty != "OKP" || jwk.crv != "Ed25519" {
                return Err(KeyError::WrongType(jwk.kid.clone()));
            }
            if public.iter().any(|p: &PublicKey| p.kid == jwk.kid) {
                return Err(KeyError::DuplicateKid(jwk.kid.clone()));
            }
            let x = decode_32(&jwk.x).ok_or_else(|| KeyError::Malformed(jwk.kid.clone()))?;
            VerifyingKey::from_bytes(&x).map_err(|_| KeyError::Malformed(jwk.kid.clone()))?;
            if let Some(d) = &jwk.d {
                let seed = decode_32(d.expose_secret()).ok_or_else(|| KeyError::Malformed(jwk.kid.clone()))?;
                if SigningKey::from_bytes(&seed).verifying_key().to_bytes() != x {
                    return Err(KeyError::Mismatch(jwk.kid.clone()));
                }
            }
            let decoding = DecodingKey::from_ed_components(&jwk.x).map_err(|_| KeyError::Malformed(jwk.kid.clone()))?;
            public.push(PublicKey { kid: jwk.kid.clone(), x: jwk.x.clone(), decoding });
        }
        let der = signer.to_pkcs8_der().map_err(|_| KeyError::Malformed(first.kid.clone()))?;
        Ok(SigningKeys { signer_kid: first.kid.clone(), signer: EncodingKey::from_ed_der(der.as_bytes()), public })
    }

    /// A fresh random private JWK, as `connector keys generate` prints it.
    pub fn generate_jwk() -> Value {
        let key = SigningKey::generate(&mut rand::rngs::OsRng);
        let x = B64.encode(key.verifying_key().to_bytes());
        let kid = format!("ed25519-{}", &x[..12]);
        json!({ "kty": "OKP", "crv": "Ed25519", "kid": kid, "x": x, "d": B64.encode(key.to_bytes()) })
    }

    /// A one-key set generated on the spot, for local runs without configured keys.
    pub fn ephemeral() -> Self {
        let jwk = Self::generate_jwk();
        Self::from_json(&Value::Array(vec![jwk]).to_string()).expect("a freshly generated key is valid")
    }

    /// The JWKS document (RFC 7517) with every public key, signer first.
    pub fn jwks(&self) -> Value {
        let keys: Vec<Value> = self
            .public
            .iter()
            .map(|k| json!({ "kty": "OKP", "crv": "Ed25519", "use": "sig", "alg": "EdDSA", "kid": k.kid, "x": k.x }))
            .collect();
        json!({ "keys": keys })
    }

    /// The kid of the key that signs new tokens.
    pub fn signer_kid(&self) -> &str {
        &self.signer_kid
    }

    /// Signs claims as a compact JWT with the current key (`alg: EdDSA`, `kid` set), typed
    /// `typ` (RFC 8725 §3.11): every kind of token the key signs has its own, and each
    /// verifier checks it, so one kind can never be used as another.
    pub fn sign<T: Serialize>(&self, typ: &str, claims: &T) -> Result<String, jsonwebtoken::errors::Error> {
        let mut header = Header::new(Algorithm::EdDSA);
        header.typ = Some(typ.to_owned());
        header.kid = Some(self.signer_kid.clone());
        jsonwebtoken::encode(&header, claims, &self.signer)
    }

    /// The verification key for a token's `kid`, if it is one of ours.
    pub fn decoding_key(&self, kid: &str) -> Option<&DecodingKey> {
        self.public.iter().find(|k| k.kid == kid).map(|k| &k.decoding)
    }
}

fn decode_32(text: &str) -> Option<[u8; 32]> {
    B64.decode(text).ok()?.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_key_loads_and_publishes_only_its_public_half() {
        let jwk = SigningKeys::generate_jwk();
        let keys = SigningKeys::from_json(&json!([jwk]).to_string()).unwrap();
        let published = keys.jwks().to_string();
        assert!(published.contains(jwk["x"].as_str().unwrap()));
        assert!(!published.contains(jwk["d"].as_str().unwrap()));
    }

    #[test]
    fn previous_public_keys_stay_in_the_jwks_after_rotation() {
        let new = SigningKeys::generate_jwk();
        let mut old = SigningKeys::generate_jwk();
        old.as_object_mut().unwrap().remove("d");
        let keys = SigningKeys::from_json(&json!([new, old]).to_string()).unwrap();
        assert_eq!(keys.signer_kid(), new["kid"]);
        assert_eq!(keys.jwks()["keys"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn a_public_only_first_key_is_refused() {
        let mut jwk = SigningKeys::generate_jwk();
        jwk.as_object_mut().unwrap().remove("d");
        let err = SigningKeys::from_json(&json!([jwk]).to_string()).unwrap_err();
        assert!(matches!(err, KeyError::FirstKeyNotPrivate(_)));
    }

    #[test]
    fn a_mismatched_public_half_is_refused() {
        let a = SigningKeys::generate_jwk();
        let mut b = SigningKeys::generate_jwk();
        b["x"] = a["x"].clone();
        assert!(matches!(SigningKeys::from_json(&json!([b]).to_string()), Err(KeyError::Mismatch(_))));
    }

    #[test]
    fn signed_tokens_verify_with_the_published_key() {
        let keys = SigningKeys::ephemeral();
        let token = keys.sign("test+jwt", &json!({ "sub": "u", "exp": 4_000_000_000u64 })).unwrap();
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.typ.as_deref(), Some("test+jwt"));
        let key = keys.decoding_key(header.kid.as_deref().unwrap()).unwrap();
        let mut validation = jsonwebtoken::Validation::new(Algorithm::EdDSA);
        validation.validate_aud = false;
        let data = jsonwebtoken::decode::<Value>(&token, key, &validation).unwrap();
        assert_eq!(data.claims["sub"], "u");
    }
}
