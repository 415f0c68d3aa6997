//! Dexter's Supabase session JWTs: the credential of the Dexter-side API (`/dexter/*`),
//! held by Dexter's own web app for the signed-in user.
//!
//! A token is accepted when it is signed by the project, by the key and algorithm that
//! key is pinned to:
//! - `HS256` with the project's legacy JWT secret (`SUPABASE_JWT_SECRET`), when configured;
//! - `ES256` or `RS256` with the key its `kid` names in the project's JWKS
//!   ([`super::jwks`]), which new Supabase projects use.
//!
//! Any other `alg` (`none` included) is refused, and the header never picks the key
//! type: an HS256 token is only ever checked against the secret, so a JWKS public key can
//! never be used as an HMAC secret. Then the claims: `iss` is the project's
//! (`<SUPABASE_URL>/auth/v1`), `aud` is `authenticated`, `exp` is in the future (30 s
//! leeway), `sub` is a user id, `role` is `authenticated` (not `anon`, not
//! `service_role`), and the user is not an anonymous sign-in (`is_anonymous`). The
//! assurance level (`aal`) is returned for routes that require a second factor.

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::jwks::SupabaseKeys;
use crate::config::SessionConfig;
use crate::ids::UserId;

/// How strongly the session's user was authenticated (Supabase's `aal` claim).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Aal {
    /// One factor (or no `aal` claim).
    Aal1,
    /// A second factor was verified in this session.
    Aal2,
}

/// A verified session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    pub user_id: UserId,
    pub aal: Aal,
}

/// Why a token was refused: for the log line, never shown to the caller in detail.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SessionError {
    #[error("the session token has expired")]
    Expired,
    #[error("the session token is not valid: {0}")]
    Invalid(&'static str),
}

#[derive(Deserialize)]
struct SessionClaims {
    sub: UserId,
    role: Option<String>,
    #[serde(default)]
    is_anonymous: bool,
    aal: Option<String>,
}

/// Verifies session tokens for one Supabase project. Cheap to clone (the JWKS cache is
/// shared by the clones).
#[derive(Clone)]
pub struct SessionVerifier {
    issuer: String,
    legacy_secret: Option<DecodingKey>,
    keys: SupabaseKeys,
}

impl SessionVerifier {
    /// `apikey` is the project's anon key, sent with JWKS fetches; `http` is the
    /// connector's client ([`crate::tls`]).
    pub fn new(config: &SessionConfig, apikey: Option<SecretString>, http: reqwest::Client) -> Self {
        SessionVerifier {
            issuer: config.issuer.clone(),
            legacy_secret: config
                .legacy_secret
                .as_ref()
                .map(|s| DecodingKey::from_secret(s.expose_secret().as_bytes())),
            keys: SupabaseKeys::new(config.jwks_url.clone(), apikey, http, config.jwks_min_refetch),
        }
    }

    /// The session behind `token`, or why it is refused.
    pub async fn verify(&self, token: &str) -> Result<Session, SessionError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| SessionError::Invalid("malformed header"))?;
        let signing_key;
        let key = match header.alg {
            Algorithm::HS256 => {
                self.legacy_secret.as_ref().ok_or(SessionError::Invalid("HS256 with no legacy secret"))?
            }
            Algorithm::ES256 | Algorithm::RS256 => {
                let kid = header.kid.as_deref().ok_or(SessionError::Invalid("no kid"))?;
                signing_key = self.keys.key(kid).await.ok_or(SessionError::Invalid("unknown kid"))?;
                if signing_key.algorithm != header.alg {
                    return Err(SessionError::Invalid("algorithm not the key's"));
                }
                &signing_key.key
            }
            _ => return Err(SessionError::Invalid("algorithm not accepted")),
        };
        let mut validation = Validation::new(header.alg);
        validation.leeway = 30;
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&["authenticated"]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let claims = jsonwebtoken::decode::<SessionClaims>(token, key, &validation)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => SessionError::Expired,
                jsonwebtoken::errors::ErrorKind::InvalidIssuer => SessionError::Invalid("wrong issuer"),
                jsonwebtoken::errors::ErrorKind::InvalidAudience => SessionError::Invalid("wrong audience"),
                _ => SessionError::Invalid("bad signature or claims"),
            })?
            .claims;
        if claims.role.as_deref() != Some("authenticated") {
            return Err(SessionError::Invalid("role is not authenticated"));
        }
        if claims.is_anonymous {
            return Err(SessionError::Invalid("anonymous user"));
        }
        let aal = if claims.aal.as_deref() == Some("aal2") { Aal::Aal2 } else { Aal::Aal1 };
        Ok(Session { user_id: claims.sub, aal })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::{Value, json};

    const SECRET: &str = "legacy-secret-legacy-secret-legacy-secret";
    const ISSUER: &str = "https://xyz.supabase.co/auth/v1";

    fn verifier(secret: Option<&str>) -> SessionVerifier {
        let config = SessionConfig {
            issuer: ISSUER.into(),
            // Nothing listens there: asymmetric tokens find no key.
            jwks_url: "http://127.0.0.1:9/auth/v1/.well-known/jwks.json".into(),
            legacy_secret: secret.map(SecretString::from),
            jwks_min_refetch: std::time::Duration::from_secs(30),
            approval_requires_aal2: false,
        };
        SessionVerifier::new(&config, None, crate::tls::client())
    }

    fn claims(user: UserId) -> Value {
        json!({"sub": user, "aud": "authenticated", "role": "authenticated", "iss": ISSUER,
               "aal": "aal1", "exp": chrono::Utc::now().timestamp() + 600})
    }

    fn hs256(claims: &Value) -> String {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &EncodingKey::from_secret(SECRET.as_bytes()))
            .unwrap()
    }

    #[tokio::test]
    async fn a_legacy_token_with_the_projects_claims_is_a_session() {
        let user = UserId::random();
        let session = verifier(Some(SECRET)).verify(&hs256(&claims(user))).await.unwrap();
        assert_eq!(session, Session { user_id: user, aal: Aal::Aal1 });
        let mut strong = claims(user);
        strong["aal"] = json!("aal2");
        assert_eq!(verifier(Some(SECRET)).verify(&hs256(&strong)).await.unwrap().aal, Aal::Aal2);
    }

    #[tokio::test]
    async fn wrong_claims_are_refused() {
        let verifier = verifier(Some(SECRET));
        let user = UserId::random();
        let with = |key: &str, value: Value| {
            let mut c = claims(user);
            if value.is_null() {
                c.as_object_mut().unwrap().remove(key);
            } else {
                c[key] = value;
            }
            hs256(&c)
        };
        for (token, why) in [
            (with("iss", json!("https://other.supabase.co/auth/v1")), "wrong issuer"),
            (with("iss", Value::Null), "bad signature or claims"),
            (with("aud", json!("anon")), "wrong audience"),
            (with("role", json!("anon")), "role is not authenticated"),
            (with("role", json!("service_role")), "role is not authenticated"),
            (with("role", Value::Null), "role is not authenticated"),
            (with("is_anonymous", json!(true)), "anonymous user"),
            (with("sub", json!("not-a-uuid")), "bad signature or claims"),
        ] {
            assert_eq!(verifier.verify(&token).await, Err(SessionError::Invalid(why)));
        }
        assert_eq!(verifier.verify(&with("exp", json!(1_000_000))).await, Err(SessionError::Expired));
    }

    #[tokio::test]
    async fn without_a_legacy_secret_hs256_is_refused_and_unknown_algorithms_always() {
        let token = hs256(&claims(UserId::random()));
        assert_eq!(verifier(None).verify(&token).await, Err(SessionError::Invalid("HS256 with no legacy secret")));
        let mut header = Header::new(Algorithm::HS384);
        header.kid = Some("k".into());
        let hs384 =
            jsonwebtoken::encode(&header, &claims(UserId::random()), &EncodingKey::from_secret(SECRET.as_bytes()))
                .unwrap();
        assert_eq!(verifier(Some(SECRET)).verify(&hs384).await, Err(SessionError::Invalid("algorithm not accepted")));
    }
}
