//! Links that open a door by themselves (an issuer's space of habilitation requests). The
//! database keeps only the link's id; the e-mail carries the id and its signature, an
//! HMAC-SHA-256 under a key derived from a server secret, made when the message is rendered.
//! So the outbox, which keeps messages for a while, never holds a link that works, and a copy
//! of the database opens nothing.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::{hkdf, hmac};

/// The key that signs and checks such links.
#[derive(Clone)]
pub struct LinkKey(hmac::Key);

impl std::fmt::Debug for LinkKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinkKey(..)")
    }
}

impl LinkKey {
    /// The key derived (HKDF-SHA-256) from a server secret, distinct from every other key
    /// derived from it.
    pub fn derive(secret: &[u8]) -> Result<LinkKey, ring::error::Unspecified> {
        let key: hmac::Key = hkdf::Salt::new(hkdf::HKDF_SHA256, b"aidants-connect")
            .extract(secret)
            .expand(&[b"signed-link-v1"], hmac::HMAC_SHA256)?
            .into();
        Ok(LinkKey(key))
    }

    /// The token of the link `id`: the id, a dot, its signature.
    pub fn token(&self, id: &str) -> String {
        let tag = hmac::sign(&self.0, id.as_bytes());
        format!("{id}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
    }

    /// The id a token signs, if its signature holds (checked in constant time).
    pub fn verify<'t>(&self, token: &'t str) -> Option<&'t str> {
        let (id, tag) = token.split_once('.')?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        hmac::verify(&self.0, id.as_bytes(), &tag).ok()?;
        Some(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_opens_only_under_its_key_and_for_its_id() {
        let key = LinkKey::derive(b"secret of this service, 32 bytes").unwrap();
        let token = key.token("abc");
        assert_eq!(key.verify(&token), Some("abc"));
        let other = LinkKey::derive(b"another secret of 32 bytes, too!").unwrap();
        assert_eq!(other.verify(&token), None);
        let forged = token.replacen("abc", "abd", 1);
        assert_eq!(key.verify(&forged), None);
        assert_eq!(key.verify("abc"), None);
        assert_eq!(key.verify("abc.!!"), None);
    }
}
