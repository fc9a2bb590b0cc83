//! The authenticator's secret: card seeds, encrypted at rest with AES-256-GCM under a key from
//! configuration, bound to their card (the card's id is the associated data, so that a sealed
//! seed copied onto another card's row does not open there); and source addresses, stored as
//! an HMAC-SHA-256 tag under a key derived from the same secret (HKDF-SHA-256).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::rand::SecureRandom;
use ring::{hkdf, hmac};
use store::CardId;

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

/// Encrypts and decrypts card seeds; tags source addresses.
pub struct SeedCipher {
    key: LessSafeKey,
    address_key: hmac::Key,
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
        let address_key: hmac::Key = hkdf::Salt::new(hkdf::HKDF_SHA256, b"aidants-connect")
            .extract(key)
            .expand(&[b"source-address-tag-v1"], hmac::HMAC_SHA256)
            .map_err(|_| SeedError::KeyLength)?
            .into();
        Ok(SeedCipher {
            key: LessSafeKey::new(unbound),
            address_key,
        })
    }

    /// The tag under which failed sign-ins from a source address are counted: an HMAC of the
    /// address, so that the stored tags do not give the addresses away (an unkeyed hash of an
    /// IPv4 address is reversed by trying all 2^32).
    pub fn address_tag(&self, source: &str) -> String {
        hex::encode(hmac::sign(
            &self.address_key,
            format!("source:{source}").as_bytes(),
        ))
    }

    /// Seals a seed given in hexadecimal for the card `card_id`; the result is
    /// `v2.` followed by `base64(nonce || ciphertext || tag)`, the card id as associated data.
    pub fn seal_hex(
        &self,
        rng: &dyn SecureRandom,
        card_id: &CardId,
        seed_hex: &str,
    ) -> Result<String, SeedError> {
        let seed = hex::decode(seed_hex.trim()).map_err(|_| SeedError::Malformed)?;
        if seed.is_empty() || seed.len() > 64 {
            return Err(SeedError::Malformed);
        }
        self.seal(rng, card_id, seed)
    }

    fn seal(
        &self,
        rng: &dyn SecureRandom,
        card_id: &CardId,
        seed: Vec<u8>,
    ) -> Result<String, SeedError> {
        let mut nonce = [0u8; NONCE_LEN];
        rng.fill(&mut nonce).map_err(|_| SeedError::Random)?;
        let mut sealed = seed;
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(card_aad(card_id)),
                &mut sealed,
            )
            .map_err(|_| SeedError::Undecryptable)?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(format!("{BOUND_PREFIX}{}", STANDARD.encode(out)))
    }

    /// Opens the sealed seed of the card `card_id`, giving its raw bytes. A seed sealed for
    /// another card, or in the old unbound format, does not open.
    pub fn open(&self, card_id: &CardId, sealed: &str) -> Result<Vec<u8>, SeedError> {
        let body = sealed
            .strip_prefix(BOUND_PREFIX)
            .ok_or(SeedError::Undecryptable)?;
        self.open_with(body, card_aad(card_id).as_bytes())
    }

    /// A seed sealed in the old format (no card bound), sealed again for `card_id`; `None`
    /// when it is already bound to its card.
    pub fn rebind(
        &self,
        rng: &dyn SecureRandom,
        card_id: &CardId,
        sealed: &str,
    ) -> Result<Option<String>, SeedError> {
        if sealed.starts_with(BOUND_PREFIX) {
            return Ok(None);
        }
        let seed = self.open_with(sealed, LEGACY_AAD)?;
        self.seal(rng, card_id, seed).map(Some)
    }

    fn open_with(&self, body: &str, aad: &[u8]) -> Result<Vec<u8>, SeedError> {
        let bytes = STANDARD
            .decode(body)
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
            .open_in_place(nonce, Aad::from(aad), &mut body)
            .map_err(|_| SeedError::Undecryptable)?;
        Ok(plain.to_vec())
    }
}

/// The prefix of seeds bound to their card.
const BOUND_PREFIX: &str = "v2.";
/// The associated data of seeds sealed before they were bound to their card.
const LEGACY_AAD: &[u8] = b"otp-seed";

/// The associated data of a card's seed.
fn card_aad(card_id: &CardId) -> String {
    format!("otp-seed:{card_id}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::rand::SystemRandom;

    const SEED: &str = "3132333435363738393031323334353637383930";

    #[test]
    fn a_sealed_seed_opens_only_under_its_key_and_for_its_card() {
        let rng = SystemRandom::new();
        let cipher = SeedCipher::new(&[7u8; 32]).unwrap();
        let sealed = cipher
            .seal_hex(&rng, &CardId::from("carte-a"), SEED)
            .unwrap();
        assert!(!sealed.contains("3132"));
        assert_eq!(
            cipher.open(&CardId::from("carte-a"), &sealed).unwrap(),
            b"12345678901234567890"
        );
        // Copied onto another card's row, it does not open.
        assert_eq!(
            cipher.open(&CardId::from("carte-b"), &sealed),
            Err(SeedError::Undecryptable)
        );
        let other = SeedCipher::new(&[8u8; 32]).unwrap();
        assert_eq!(
            other.open(&CardId::from("carte-a"), &sealed),
            Err(SeedError::Undecryptable)
        );
    }

    /// What the previous version stored: no card bound, `otp-seed` as associated data.
    fn legacy_seal(cipher: &SeedCipher, seed: &[u8]) -> String {
        let nonce = [3u8; NONCE_LEN];
        let mut sealed = seed.to_vec();
        cipher
            .key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(LEGACY_AAD),
                &mut sealed,
            )
            .unwrap();
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        STANDARD.encode(out)
    }

    #[test]
    fn old_seeds_are_bound_to_their_card_and_never_open_unbound() {
        let rng = SystemRandom::new();
        let cipher = SeedCipher::new(&[7u8; 32]).unwrap();
        let legacy = legacy_seal(&cipher, b"12345678901234567890");
        assert_eq!(
            cipher.open(&CardId::from("carte-a"), &legacy),
            Err(SeedError::Undecryptable)
        );
        let bound = cipher
            .rebind(&rng, &CardId::from("carte-a"), &legacy)
            .unwrap()
            .unwrap();
        assert_eq!(
            cipher.open(&CardId::from("carte-a"), &bound).unwrap(),
            b"12345678901234567890"
        );
        assert_eq!(
            cipher
                .rebind(&rng, &CardId::from("carte-a"), &bound)
                .unwrap(),
            None
        );
    }

    #[test]
    fn address_tags_are_keyed() {
        let cipher = SeedCipher::new(&[7u8; 32]).unwrap();
        let tag = cipher.address_tag("192.0.2.7");
        assert_eq!(tag, cipher.address_tag("192.0.2.7"));
        assert_ne!(tag, cipher.address_tag("192.0.2.8"));
        assert_ne!(
            tag,
            SeedCipher::new(&[8u8; 32])
                .unwrap()
                .address_tag("192.0.2.7")
        );
        // Not the unkeyed hash the tags used to be.
        let unkeyed = hex::encode(ring::digest::digest(
            &ring::digest::SHA256,
            b"source:192.0.2.7",
        ));
        assert_ne!(tag, unkeyed);
        assert_eq!(tag.len(), 64);
    }

    #[test]
    fn two_seals_of_one_seed_differ() {
        let rng = SystemRandom::new();
        let cipher = SeedCipher::new(&[7u8; 32]).unwrap();
        assert_ne!(
            cipher.seal_hex(&rng, &CardId::from("c"), "00ff").unwrap(),
            cipher.seal_hex(&rng, &CardId::from("c"), "00ff").unwrap()
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
            cipher.seal_hex(&rng, &CardId::from("c"), "xyz").err(),
            Some(SeedError::Malformed)
        );
        assert_eq!(
            cipher.seal_hex(&rng, &CardId::from("c"), "").err(),
            Some(SeedError::Malformed)
        );
        assert_eq!(
            cipher.open(&CardId::from("c"), "v2.AAAA").err(),
            Some(SeedError::Undecryptable)
        );
    }
}
