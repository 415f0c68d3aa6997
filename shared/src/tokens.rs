//! Opaque credentials: generating them, storing them only as hashes, comparing them in
//! constant time. Used for client secrets, authorization codes and refresh tokens.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

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
pub fn hash(credential: &str) -> String {
    let digest = Sha256::digest(credential.as_bytes());
    let mut hex = String::with_capacity(64);
    for byte in digest {
        hex.push_str(&format!("{byte:02x}"));
    }
    hex
}

/// Whether `presented` hashes to `stored_hash`, compared in constant time.
pub fn matches_hash(presented: &str, stored_hash: &str) -> bool {
    hash(presented).as_bytes().ct_eq(stored_hash.as_bytes()).into()
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
    }
}
