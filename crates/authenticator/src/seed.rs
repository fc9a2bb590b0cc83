//! Card seeds, encrypted at rest with AES-256-GCM under a key from configuration.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::rand::SecureRandom;

/// Why a seed could not be sealed or opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SeedError {
    /// The configured key is not 32 bytes.
    #[error("la clé de chiffrement des graines doit faire 32 octets")]
    KeyLength,
    /// A seed is not hexadecimal, or longer than 64 bytes.
    #[error("graine invalide: hexadécimal attendu (40 caractères pour une carte physique)")]
    Malformed,
    /// A stored seed does not decrypt under the configured key.
    #[error("graine illisible avec la clé configurée")]
    Undecryptable,
    /// The random generator failed.
    #[error("générateur aléatoire indisponible")]
    Random,
}

/// Encrypts and decrypts card seeds.
pub struct SeedCipher {
    key: LessSafeKey,
}

impl std::fmt::Debug for SeedCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SeedCipher(..)")
    }
}

impl SeedCipher {
    /// A cipher under a 32-byte key.
    pub fn new(key: &[u8]) -> Result<SeedCipher, SeedError> {
        let unbound = UnboundKey::new(&AES_256_GCM, key).map_err(|_| SeedError::KeyLength)?;
        Ok(SeedCipher {
            key: LessSafeKey::new(unbound),
        })
    }

    /// Seals a seed given in hexadecimal; the result is `base64(nonce || ciphertext || tag)`.
    pub fn seal_hex(&self, rng: &dyn SecureRandom, seed_hex: &str) -> Result<String, SeedError> {
        let seed = hex::decode(seed_hex.trim()).map_err(|_| SeedError::Malformed)?;
        if seed.is_empty() || seed.len() > 64 {
            return Err(SeedError::Malformed);
        }
        let mut nonce = [0u8; NONCE_LEN];
        rng.fill(&mut nonce).map_err(|_| SeedError::Random)?;
        let mut sealed = seed;
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(b"otp-seed"),
                &mut sealed,
            )
            .map_err(|_| SeedError::Undecryptable)?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(STANDARD.encode(out))
    }

    /// Opens a sealed seed, giving its raw bytes.
    pub fn open(&self, sealed: &str) -> Result<Vec<u8>, SeedError> {
        let bytes = STANDARD
            .decode(sealed)
            .map_err(|_| SeedError::Undecryptable)?;
        if bytes.len() <= NONCE_LEN {
            return Err(SeedError::Undecryptable);
        }
        let (nonce, body) = bytes.split_at(NONCE_LEN);
        let nonce =
            Nonce::try_assume_unique_for_key(nonce).map_err(|_| SeedError::Undecryptable)?;
        let mut body = body.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(b"otp-seed"), &mut body)
            .map_err(|_| SeedError::Undecryptable)?;
        Ok(plain.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::rand::SystemRandom;

    #[test]
    fn a_sealed_seed_opens_only_under_its_key() {
        let rng = SystemRandom::new();
        let cipher = SeedCipher::new(&[7u8; 32]).unwrap();
        let sealed = cipher
            .seal_hex(&rng, "3132333435363738393031323334353637383930")
            .unwrap();
        assert!(!sealed.contains("3132"));
        assert_eq!(cipher.open(&sealed).unwrap(), b"12345678901234567890");
        let other = SeedCipher::new(&[8u8; 32]).unwrap();
        assert_eq!(other.open(&sealed), Err(SeedError::Undecryptable));
    }

    #[test]
    fn two_seals_of_one_seed_differ() {
        let rng = SystemRandom::new();
        let cipher = SeedCipher::new(&[7u8; 32]).unwrap();
        assert_ne!(
            cipher.seal_hex(&rng, "00ff").unwrap(),
            cipher.seal_hex(&rng, "00ff").unwrap()
        );
    }

    #[test]
    fn bad_keys_and_seeds_are_refused() {
        assert_eq!(
            SeedCipher::new(&[0u8; 16]).err(),
            Some(SeedError::KeyLength)
        );
        let cipher = SeedCipher::new(&[7u8; 32]).unwrap();
        let rng = SystemRandom::new();
        assert_eq!(
            cipher.seal_hex(&rng, "xyz").err(),
            Some(SeedError::Malformed)
        );
        assert_eq!(cipher.seal_hex(&rng, "").err(), Some(SeedError::Malformed));
        assert_eq!(cipher.open("AAAA").err(), Some(SeedError::Undecryptable));
    }
}
