//! Salted secret hashing for credentials.
//!
//! The salt is random, so it is drawn outside the state machine (in the HTTP handler) and carried
//! in the logged operation; `apply` only stores it. SHA-256 keeps the example small; a production
//! service would use a slow password hash (argon2, scrypt) here instead.

use sha2::{Digest, Sha256};

use super::StoredCredential;

/// Bytes of salt per credential.
pub const SALT_LEN: usize = 16;

/// Draws a fresh salt from the operating system.
pub fn random_salt() -> std::io::Result<[u8; SALT_LEN]> {
    let mut salt = [0u8; SALT_LEN];
    getrandom::fill(&mut salt).map_err(|e| std::io::Error::other(e.to_string()))?;
    Ok(salt)
}

/// Hashes `secret` with `salt`: SHA-256 over the salt then the secret.
pub fn hash_secret(salt: &[u8], secret: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(salt);
    h.update(secret.as_bytes());
    h.finalize().into()
}

/// Builds the logged form of a new credential: a fresh random salt and the salted hash.
///
/// ```
/// use rig_examples::metadata::secret::{seal, verify};
/// let stored = seal("7", "hunter2").unwrap();
/// assert!(!stored.hash.contains("hunter2"));
/// assert!(verify(&stored.salt, &stored.hash, "hunter2"));
/// assert!(!verify(&stored.salt, &stored.hash, "hunter3"));
/// ```
pub fn seal(user_id: &str, secret: &str) -> std::io::Result<StoredCredential> {
    let salt = random_salt()?;
    Ok(StoredCredential {
        user_id: user_id.to_owned(),
        salt: to_hex(&salt),
        hash: to_hex(&hash_secret(&salt, secret)),
    })
}

/// True when `secret` hashes (with the hex `salt`) to the hex `hash`. Compares in constant time.
pub fn verify(salt_hex: &str, hash_hex: &str, secret: &str) -> bool {
    let (Some(salt), Some(expected)) = (from_hex(salt_hex), from_hex(hash_hex)) else {
        return false;
    };
    let actual = hash_secret(&salt, secret);
    expected.len() == actual.len()
        && expected
            .iter()
            .zip(actual.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

/// Lowercase hex of `bytes`.
pub fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Decodes lowercase or uppercase hex; `None` when it is not hex.
pub fn from_hex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_rejects_garbage() {
        let bytes = [0u8, 1, 0xab, 0xff];
        assert_eq!(to_hex(&bytes), "0001abff");
        assert_eq!(from_hex("0001ABff").unwrap(), bytes);
        assert_eq!(from_hex("abc"), None);
        assert_eq!(from_hex("zz"), None);
    }

    #[test]
    fn two_seals_of_one_secret_differ_but_both_verify() {
        let a = seal("u", "s3cret").unwrap();
        let b = seal("u", "s3cret").unwrap();
        assert_ne!(a.salt, b.salt);
        assert_ne!(a.hash, b.hash);
        assert!(verify(&a.salt, &a.hash, "s3cret") && verify(&b.salt, &b.hash, "s3cret"));
        assert!(!verify(&a.salt, &b.hash, "s3cret"));
    }
}
