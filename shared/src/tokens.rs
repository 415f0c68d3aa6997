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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_credential_matches_only_its_own_hash() {
        let a = generate("dxcs_");
        let b = generate("dxcs_");
        assert!(a.starts_with("dxcs_") && a.len() == 5 + 43);
        assert!(TokenHash::of(&a).matches(&a));
        assert!(!TokenHash::of(&a).matches(&b));
        assert_eq!(TokenHash::of(&a).as_str(), sha256_hex(&a));
    }
}
