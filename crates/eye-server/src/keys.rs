//! API key secrets: generation (256 random bits) and the SHA-256 digest that is all the
//! store ever keeps. A slow password hash buys nothing for keys this random, and would cost
//! tens of milliseconds on every request.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// Every key starts with this, so a leaked one is easy to recognise in logs and scanners.
pub const KEY_PREFIX: &str = "eye_";

/// A fresh key secret, shown once, and its digest, stored.
pub struct NewKey {
    pub secret: String,
    pub hash: [u8; 32],
}

pub fn generate() -> NewKey {
    let mut random = [0u8; 32];
    rand::rng().fill_bytes(&mut random);
    let secret = format!("{KEY_PREFIX}{}", URL_SAFE_NO_PAD.encode(random));
    let hash = digest(&secret);
    NewKey { secret, hash }
}

/// The public id of a key, as listed and revoked: `key_` and 16 hex digits.
pub fn new_key_id() -> String {
    format!("key_{:016x}", rand::rng().next_u64())
}

pub fn digest(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_random_prefixed_and_hashed() {
        let (a, b) = (generate(), generate());
        assert_ne!(a.secret, b.secret);
        assert!(a.secret.starts_with(KEY_PREFIX));
        assert_eq!(a.secret.len(), KEY_PREFIX.len() + 43);
        assert_eq!(a.hash, digest(&a.secret));
    }
}
