//! Opaque credentials: generating them, storing them only as hashes ([`TokenHash`]),
//! comparing them in constant time. Used for client secrets, authorization codes and
//! refresh tokens.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use rand::RngCore;

pub use crate::ids::{TokenHash, sha256_hex};

/// A new 256-bit random credential, base64url, with a readable prefix naming its kind
/// (`dxcs_` client secret, `dxac_` code, `dxrt_` refresh token) so a leaked one is
/// recognisable in a secret scanner.
pub fn generate(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("{prefix}{}", B64.encode(bytes))
}

/// The SHA-256 hex digest a credential is stored and looked up by. The credentials are
/// 256-bit random values, so a fast hash is enough: there is nothing to brute-force.
pub fn hash(credential: &str) -> TokenHash {
    TokenHash::of(credential)
}

/// Whether `presented` hashes to `stored_hash`, compared in constant time.
pub fn matches_hash(presented: &str, stored_hash: &TokenHash) -> bool {
    stored_hash.matches(presented)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_credential_matches_only_its_own_hash() {
        let a = generate("dxcs_");
        let b = generate("dxcs_");
        assert!(a.starts_with("dxcs_") && a.len() == 5 + 43);
        assert!(matches_hash(&a, &hash(&a)));
        assert!(!matches_hash(&b, &hash(&a)));
        assert_eq!(hash(&a).as_str(), sha256_hex(&a));
    }
}
