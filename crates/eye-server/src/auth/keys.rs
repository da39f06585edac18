//! API key secrets: generation (256 random bits) and the SHA-256 digest that is all the
//! store ever keeps. A slow password hash buys nothing for keys this random, and would cost
//! tens of milliseconds on every request.

use std::borrow::Cow;

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

/// Characters of a key after its prefix: 43 of URL-safe base64 (256 bits, unpadded).
const SECRET_CHARS: usize = 43;

/// What replaces a key in text the server keeps.
pub const REDACTED: &str = "eye_[redacted]";

/// `text` with everything shaped like a key (the prefix, then 43 or more URL-safe base64
/// characters) replaced by [`REDACTED`]. For what the server keeps of what clients send (the
/// error store's raw input and messages): a client that puts its key in a body must not
/// leave it readable by every holder of a query key.
pub fn redact(text: &str) -> Cow<'_, str> {
    let is_key_char = |b: &u8| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_';
    let bytes = text.as_bytes();
    let mut out = String::new();
    let (mut copied, mut from) = (0, 0);
    while let Some(found) = text[from..].find(KEY_PREFIX) {
        let start = from + found;
        let secret = start + KEY_PREFIX.len();
        let run = bytes[secret..]
            .iter()
            .take_while(|b| is_key_char(b))
            .count();
        if run >= SECRET_CHARS {
            out.push_str(&text[copied..start]);
            out.push_str(REDACTED);
            copied = secret + run;
        }
        from = secret + run;
    }
    if copied == 0 {
        return Cow::Borrowed(text);
    }
    out.push_str(&text[copied..]);
    Cow::Owned(out)
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

    #[test]
    fn keys_in_text_are_redacted_and_nothing_else_is() {
        let (a, b) = (generate().secret, generate().secret);
        let text = format!("key={a}&x=1 \"{b}\" eye_short {a}");
        let redacted = redact(&text);
        assert_eq!(
            redacted,
            format!("key={REDACTED}&x=1 \"{REDACTED}\" eye_short {REDACTED}")
        );
        assert!(matches!(redact("eye_ no key {\"a\": 1}"), Cow::Borrowed(_)));
        assert_eq!(redact("é eye_é"), "é eye_é");
    }
}
