//! Types that say what they are: the ids and credential hashes the connector passes
//! around, each its own type so a grant id cannot go where a user id belongs.
//!
//! Every one is transparent on the wire and in the database: it (de)serializes as the
//! bare UUID or string it wraps (JSON bodies, JWT claims and the OpenAPI spec do not
//! change), and maps to the same Postgres column type (`uuid` or `text`).

use std::fmt;
use std::str::FromStr;

use bytes::BytesMut;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokio_postgres::types::{FromSql, IsNull, ToSql, Type, to_sql_checked};
use uuid::Uuid;

type SqlError = Box<dyn std::error::Error + Sync + Send>;

/// `ToSql`/`FromSql` through the wrapped value: the newtype maps to whatever column
/// type the wrapped type maps to.
macro_rules! transparent_sql {
    ($name:ident, $inner:ty) => {
        impl ToSql for $name {
            fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, SqlError> {
                self.0.to_sql(ty, out)
            }

            fn accepts(ty: &Type) -> bool {
                <$inner as ToSql>::accepts(ty)
            }

            to_sql_checked!();
        }

        impl<'a> FromSql<'a> for $name {
            fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<$name, SqlError> {
                <$inner as FromSql>::from_sql(ty, raw).map($name)
            }

            fn accepts(ty: &Type) -> bool {
                <$inner as FromSql>::accepts(ty)
            }
        }
    };
}

/// A UUID id of one kind of record.
macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A new random (v4) id.
            pub fn random() -> $name {
                $name(Uuid::new_v4())
            }

            /// The id of this UUID.
            pub const fn from_uuid(uuid: Uuid) -> $name {
                $name(uuid)
            }

            /// The UUID itself.
            pub const fn as_uuid(&self) -> Uuid {
                self.0
            }

            /// The UUID in its 32-hex-digit form, without hyphens.
            pub fn simple(&self) -> uuid::fmt::Simple {
                self.0.simple()
            }
        }

        impl From<Uuid> for $name {
            fn from(uuid: Uuid) -> $name {
                $name(uuid)
            }
        }

        impl From<$name> for Uuid {
            fn from(id: $name) -> Uuid {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;

            fn from_str(text: &str) -> Result<$name, uuid::Error> {
                Uuid::parse_str(text).map($name)
            }
        }

        transparent_sql!($name, Uuid);
    };
}

uuid_id! {
    /// A Dexter (Supabase auth) user: `profiles.id`, the access token's `sub`.
    UserId
}

uuid_id! {
    /// A grant (linked account): one user's authorization of one client, the access
    /// token's `gid`.
    GrantId
}

uuid_id! {
    /// A swap approval.
    ApprovalId
}

/// An OAuth client's public id, e.g. `chatgpt-…`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ClientId(String);

impl ClientId {
    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id as an owned string.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl From<String> for ClientId {
    fn from(id: String) -> ClientId {
        ClientId(id)
    }
}

impl From<&str> for ClientId {
    fn from(id: &str) -> ClientId {
        ClientId(id.to_owned())
    }
}

impl From<ClientId> for String {
    fn from(id: ClientId) -> String {
        id.0
    }
}

impl FromStr for ClientId {
    type Err = std::convert::Infallible;

    fn from_str(text: &str) -> Result<ClientId, Self::Err> {
        Ok(ClientId(text.to_owned()))
    }
}

impl AsRef<str> for ClientId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl PartialEq<str> for ClientId {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for ClientId {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

transparent_sql!(ClientId, String);

/// The SHA-256 hex digest of a secret credential (an authorization code, a refresh
/// token, a client secret, a flow cookie): what is stored and looked up instead of the
/// secret. Equality is constant-time.
#[derive(Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TokenHash(String);

impl TokenHash {
    /// The hash a credential is stored and looked up by. The credentials are 256-bit
    /// random values, so a fast hash is enough: there is nothing to brute-force.
    pub fn of(secret: &str) -> TokenHash {
        TokenHash(sha256_hex(secret))
    }

    /// A hash already computed (e.g. read back from storage).
    pub fn from_hex(hex: String) -> TokenHash {
        TokenHash(hex)
    }

    /// Whether `presented` hashes to this, compared in constant time.
    pub fn matches(&self, presented: &str) -> bool {
        TokenHash::of(presented) == *self
    }

    /// The hex digest.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl PartialEq for TokenHash {
    /// Constant-time in the contents (the lengths of hex digests are no secret).
    fn eq(&self, other: &TokenHash) -> bool {
        self.0.as_bytes().ct_eq(other.0.as_bytes()).into()
    }
}

impl Eq for TokenHash {}

impl std::hash::Hash for TokenHash {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("TokenHash").field(&self.0).finish()
    }
}

transparent_sql!(TokenHash, String);

/// A PKCE code challenge (RFC 7636), always of method `S256`:
/// `BASE64URL(SHA256(code_verifier))`. The client sends it to `/authorize`, it is bound
/// to the request and then to the code, and `/token` requires the verifier it was made
/// from. Equality is constant-time.
#[derive(Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CodeChallenge(String);

impl CodeChallenge {
    /// A challenge as a client sent it, if well formed: 43 to 128 characters of the
    /// unreserved alphabet (`A-Z a-z 0-9 - . _ ~`, RFC 7636 §4.1-4.2).
    pub fn parse(text: &str) -> Option<CodeChallenge> {
        pkce_shaped(text).then(|| CodeChallenge(text.to_owned()))
    }

    /// The `S256` challenge of `verifier` (RFC 7636 §4.2).
    pub fn s256(verifier: &str) -> CodeChallenge {
        use base64::Engine;
        let digest = Sha256::digest(verifier.as_bytes());
        CodeChallenge(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest))
    }

    /// Whether `verifier` is well formed and its `S256` challenge is this one, compared in
    /// constant time (RFC 7636 §4.6).
    pub fn verified_by(&self, verifier: &str) -> bool {
        pkce_shaped(verifier) && CodeChallenge::s256(verifier) == *self
    }

    /// The challenge as sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// 43 to 128 characters of `[A-Za-z0-9-._~]`: the shape of PKCE verifiers and challenges.
pub fn pkce_shaped(text: &str) -> bool {
    (43..=128).contains(&text.len())
        && text.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

impl PartialEq for CodeChallenge {
    /// Constant-time in the contents.
    fn eq(&self, other: &CodeChallenge) -> bool {
        self.0.as_bytes().ct_eq(other.0.as_bytes()).into()
    }
}

impl Eq for CodeChallenge {}

impl fmt::Debug for CodeChallenge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CodeChallenge").field(&self.0).finish()
    }
}

transparent_sql!(CodeChallenge, String);

/// The lowercase SHA-256 hex digest of `text`: what a [`TokenHash`] holds (and the
/// receipts' argument digests).
pub fn sha256_hex(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    let mut hex = String::with_capacity(64);
    for byte in digest {
        hex.push_str(&format!("{byte:02x}"));
    }
    hex
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_transparent_on_the_wire() {
        let uuid = Uuid::new_v4();
        let user = UserId::from(uuid);
        assert_eq!(serde_json::to_value(user).unwrap(), serde_json::json!(uuid.to_string()));
        assert_eq!(serde_json::from_value::<GrantId>(serde_json::json!(uuid)).unwrap().as_uuid(), uuid);
        assert_eq!(user.to_string(), uuid.to_string());
        assert_eq!(uuid.to_string().parse::<ApprovalId>().unwrap(), ApprovalId::from(uuid));
        let client = ClientId::from("chatgpt-abc");
        assert_eq!(serde_json::to_value(&client).unwrap(), serde_json::json!("chatgpt-abc"));
        assert_eq!(client, "chatgpt-abc");
        let hash = TokenHash::of("dxrt_x");
        assert_eq!(serde_json::to_value(&hash).unwrap(), serde_json::json!(hash.as_str()));
    }

    #[test]
    fn a_token_hash_matches_only_its_secret() {
        let hash = TokenHash::of("dxac_one");
        assert!(hash.matches("dxac_one"));
        assert!(!hash.matches("dxac_two"));
        assert_eq!(hash, TokenHash::from_hex(hash.as_str().to_owned()));
        assert_ne!(hash, TokenHash::of("dxac_two"));
    }

    #[test]
    fn a_code_challenge_is_verified_only_by_its_verifier() {
        // RFC 7636 Appendix B.
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = CodeChallenge::parse("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM").unwrap();
        assert_eq!(CodeChallenge::s256(verifier), challenge);
        assert!(challenge.verified_by(verifier));
        assert!(!challenge.verified_by("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXl"));
        assert!(!challenge.verified_by(challenge.as_str()), "the challenge is not its own verifier (plain)");
        assert!(CodeChallenge::parse(&"a".repeat(42)).is_none());
        assert!(CodeChallenge::parse(&"a".repeat(129)).is_none());
        assert!(CodeChallenge::parse(&format!("{}+/=", "a".repeat(43))).is_none());
        assert!(CodeChallenge::parse(&format!("{}~._-", "a".repeat(124))).is_some());
    }

    #[test]
    fn ids_map_to_their_column_types() {
        assert!(<UserId as ToSql>::accepts(&Type::UUID) && !<UserId as ToSql>::accepts(&Type::TEXT));
        assert!(<ClientId as FromSql>::accepts(&Type::TEXT));
        assert!(<TokenHash as ToSql>::accepts(&Type::TEXT));
        assert!(<Vec<GrantId> as ToSql>::accepts(&Type::UUID_ARRAY));
    }
}
