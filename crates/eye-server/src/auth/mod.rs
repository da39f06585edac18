//! API keys: secrets and their digests, and the cache of key look-ups.

pub mod key_cache;
pub mod keys;
