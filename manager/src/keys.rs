//! Secret keys: 256 random bits, hex-encoded with a prefix that says what the key is for, and their
//! SHA-256 digests (the only form the manager stores for keys users hold).

use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Prefix of instance API keys.
pub const INSTANCE_KEY_PREFIX: &str = "bfk_";
/// Prefix of the manager's admin keys.
pub const ADMIN_KEY_PREFIX: &str = "bfa_";
/// Prefix of the manager's per-instance control keys.
pub const CONTROL_KEY_PREFIX: &str = "bfc_";

/// A new random key: `prefix` + 64 hex characters.
pub fn generate(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{prefix}{}", hex::encode(bytes))
}

/// Hex SHA-256 of a key or token.
pub fn sha256_hex(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Compares a presented key with a stored hex digest in constant time.
pub fn matches_digest(presented: &str, stored_hex: &str) -> bool {
    let presented = sha256_hex(presented);
    presented.as_bytes().ct_eq(stored_hex.as_bytes()).into()
}

/// What may be shown of a key after creation: its prefix and first characters.
pub fn hint(key: &str) -> String {
    let visible: String = key.chars().take(INSTANCE_KEY_PREFIX.len() + 6).collect();
    format!("{visible}…")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_random_256_bit_hex() {
        let a = generate(INSTANCE_KEY_PREFIX);
        let b = generate(INSTANCE_KEY_PREFIX);
        assert_ne!(a, b);
        assert_eq!(a.len(), INSTANCE_KEY_PREFIX.len() + 64);
        assert!(matches_digest(&a, &sha256_hex(&a)));
        assert!(!matches_digest(&b, &sha256_hex(&a)));
        assert!(hint(&a).starts_with(&a[..10]));
        assert!(hint(&a).len() < a.len());
    }
}
