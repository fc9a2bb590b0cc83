//! Signing keys: ES256 (P-256) and RS256 (RSA 2048) keys in PKCS#8 PEM files, generated on
//! first run when missing, published in the JWKS with RFC 7638 thumbprints as `kid`. Tokens
//! are signed with `ring`'s key pairs, prepared once when the key is loaded.

use crate::ProviderError;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey};
use p256::pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding};
use rand_core::OsRng;
use ring::digest;
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, RsaKeyPair};
use rsa::traits::PublicKeyParts;
use serde::Serialize;
use serde_json::{json, Value};
use std::path::Path;

/// The private half, ready to sign.
enum KeyPair {
    Es256(EcdsaKeyPair),
    Rs256(RsaKeyPair),
}

/// A key the provider signs with.
pub struct SigningKey {
    /// Algorithm.
    pub algorithm: Algorithm,
    /// RFC 7638 thumbprint.
    pub kid: String,
    pair: KeyPair,
    /// Randomness of the signatures themselves (ECDSA nonces, RSA blinding): always the
    /// system's, never a test's, since a predictable nonce gives the private key away.
    random: SystemRandom,
    decoding: DecodingKey,
    jwk: Value,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({:?}, {})", self.algorithm, self.kid)
    }
}

impl SigningKey {
    /// A compact JWS of `claims` with this key: header `alg`, `kid` and `typ` when given.
    pub fn sign_jwt<T: Serialize>(
        &self,
        claims: &T,
        typ: Option<&str>,
    ) -> Result<String, ProviderError> {
        let alg = match self.pair {
            KeyPair::Es256(_) => "ES256",
            KeyPair::Rs256(_) => "RS256",
        };
        let mut header = json!({ "alg": alg, "kid": self.kid });
        if let Some(typ) = typ {
            header["typ"] = json!(typ);
        }
        let claims = serde_json::to_vec(claims).map_err(|e| ProviderError::Signing(e.into()))?;
        let mut input = URL_SAFE_NO_PAD.encode(header.to_string());
        input.push('.');
        input.push_str(&URL_SAFE_NO_PAD.encode(claims));
        let failed =
            |_: ring::error::Unspecified| ProviderError::Signing("ring a refusé de signer".into());
        let signature = match &self.pair {
            KeyPair::Es256(pair) => pair
                .sign(&self.random, input.as_bytes())
                .map_err(failed)?
                .as_ref()
                .to_vec(),
            KeyPair::Rs256(pair) => {
                let mut out = vec![0; pair.public().modulus_len()];
                pair.sign(
                    &signature::RSA_PKCS1_SHA256,
                    &self.random,
                    input.as_bytes(),
                    &mut out,
                )
                .map_err(failed)?;
                out
            }
        };
        input.push('.');
        input.push_str(&URL_SAFE_NO_PAD.encode(signature));
        Ok(input)
    }

    /// The public key, for verifying our own tokens (id_token_hint).
    pub fn decoding_key(&self) -> &DecodingKey {
        &self.decoding
    }
    /// The public JWK.
    pub fn jwk(&self) -> &Value {
        &self.jwk
    }

    /// Loads an ES256 key from PKCS#8 PEM.
    pub fn es256_from_pem(pem: &str) -> Result<SigningKey, ProviderError> {
        let secret = p256::SecretKey::from_pkcs8_pem(pem).map_err(KeyError::malformed)?;
        let point = p256::elliptic_curve::sec1::ToEncodedPoint::to_encoded_point(
            &secret.public_key(),
            false,
        );
        let (Some(x), Some(y)) = (point.x(), point.y()) else {
            return Err(ProviderError::Key(KeyError::InvalidPoint));
        };
        let x = URL_SAFE_NO_PAD.encode(x);
        let y = URL_SAFE_NO_PAD.encode(y);
        let kid = thumbprint(&format!(
            r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#
        ));
        let random = SystemRandom::new();
        let pair = EcdsaKeyPair::from_private_key_and_public_key(
            &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            &secret.to_bytes(),
            point.as_bytes(),
            &random,
        )
        .map_err(KeyError::malformed)?;
        Ok(SigningKey {
            algorithm: Algorithm::ES256,
            pair: KeyPair::Es256(pair),
            random,
            decoding: DecodingKey::from_ec_components(&x, &y).map_err(KeyError::malformed)?,
            jwk: json!({"kty": "EC", "crv": "P-256", "x": x, "y": y, "use": "sig", "alg": "ES256", "kid": kid}),
            kid,
        })
    }

    /// Loads an RS256 key from PKCS#8 PEM.
    pub fn rs256_from_pem(pem: &str) -> Result<SigningKey, ProviderError> {
        let private = rsa::RsaPrivateKey::from_pkcs8_pem(pem).map_err(KeyError::malformed)?;
        let n = URL_SAFE_NO_PAD.encode(private.n().to_bytes_be());
        let e = URL_SAFE_NO_PAD.encode(private.e().to_bytes_be());
        let kid = thumbprint(&format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#));
        let der = private.to_pkcs8_der().map_err(KeyError::malformed)?;
        let pair = RsaKeyPair::from_pkcs8(der.as_bytes()).map_err(KeyError::malformed)?;
        Ok(SigningKey {
            algorithm: Algorithm::RS256,
            pair: KeyPair::Rs256(pair),
            random: SystemRandom::new(),
            decoding: DecodingKey::from_rsa_components(&n, &e).map_err(KeyError::malformed)?,
            jwk: json!({"kty": "RSA", "n": n, "e": e, "use": "sig", "alg": "RS256", "kid": kid}),
            kid,
        })
    }
}

fn thumbprint(canonical_jwk: &str) -> String {
    URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, canonical_jwk.as_bytes()))
}

/// A new ES256 private key, PKCS#8 PEM.
pub fn generate_es256_pem() -> Result<String, ProviderError> {
    let secret = p256::SecretKey::random(&mut OsRng);
    secret
        .to_pkcs8_pem(LineEnding::LF)
        .map(|pem| pem.to_string())
        .map_err(|e| KeyError::malformed(e).into())
}

/// A new RS256 private key (2048 bits), PKCS#8 PEM.
pub fn generate_rs256_pem() -> Result<String, ProviderError> {
    let private = rsa::RsaPrivateKey::new(&mut OsRng, 2048).map_err(KeyError::malformed)?;
    private
        .to_pkcs8_pem(LineEnding::LF)
        .map(|pem| pem.to_string())
        .map_err(|e| KeyError::malformed(e).into())
}

/// Why a signing key could not be read, made or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The key's text or bytes are not a key of the expected kind.
    #[error("clé illisible: {0}")]
    Malformed(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The EC key's public point cannot be written in coordinates.
    #[error("point P-256 invalide")]
    InvalidPoint,
    /// A key file or the keys' directory could not be read or written.
    #[error("{}: {source}", path.display())]
    File {
        /// The file or directory.
        path: std::path::PathBuf,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
}

impl KeyError {
    fn malformed(e: impl std::error::Error + Send + Sync + 'static) -> KeyError {
        KeyError::Malformed(Box::new(e))
    }

    fn file(path: &Path, source: std::io::Error) -> KeyError {
        KeyError::File {
            path: path.to_owned(),
            source,
        }
    }
}

/// The provider's keys: the active ES256 and RS256 keys, and retired public keys still
/// published until the tokens they signed have expired.
#[derive(Debug)]
pub struct KeySet {
    /// Active ES256 key.
    pub es256: SigningKey,
    /// Active RS256 key.
    pub rs256: SigningKey,
    /// Retired keys: published, never used to sign.
    pub retired: Vec<SigningKey>,
}

impl KeySet {
    /// Loads `es256.pem` and `rs256.pem` from `dir`, generating the missing ones (mode 0600),
    /// and every `retired-*.pem` as a published, non-signing key.
    pub fn load_or_generate(dir: &Path) -> Result<KeySet, ProviderError> {
        std::fs::create_dir_all(dir).map_err(|e| KeyError::file(dir, e))?;
        let es256 = SigningKey::es256_from_pem(&read_or_create(
            &dir.join("es256.pem"),
            generate_es256_pem,
        )?)?;
        let rs256 = SigningKey::rs256_from_pem(&read_or_create(
            &dir.join("rs256.pem"),
            generate_rs256_pem,
        )?)?;
        let mut retired = Vec::new();
        let mut paths: Vec<_> = std::fs::read_dir(dir)
            .map_err(|e| KeyError::file(dir, e))?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("retired-") && n.ends_with(".pem"))
            })
            .collect();
        paths.sort();
        for path in paths {
            let pem = std::fs::read_to_string(&path).map_err(|e| KeyError::file(&path, e))?;
            let key =
                SigningKey::es256_from_pem(&pem).or_else(|_| SigningKey::rs256_from_pem(&pem))?;
            retired.push(key);
        }
        Ok(KeySet {
            es256,
            rs256,
            retired,
        })
    }

    /// The JWKS document.
    pub fn jwks(&self) -> Value {
        let keys: Vec<Value> = [&self.es256, &self.rs256]
            .into_iter()
            .chain(self.retired.iter())
            .map(|k| k.jwk().clone())
            .collect();
        json!({ "keys": keys })
    }

    /// The published key with this kid.
    pub fn by_kid(&self, kid: &str) -> Option<&SigningKey> {
        [&self.es256, &self.rs256]
            .into_iter()
            .chain(self.retired.iter())
            .find(|k| k.kid == kid)
    }
}

fn read_or_create(
    path: &Path,
    generate: fn() -> Result<String, ProviderError>,
) -> Result<String, ProviderError> {
    match std::fs::read_to_string(path) {
        Ok(pem) => Ok(pem),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let pem = generate()?;
            write_private(path, &pem)?;
            tracing::info!(path = %path.display(), "generated a new signing key");
            Ok(pem)
        }
        Err(e) => Err(KeyError::file(path, e).into()),
    }
}

fn write_private(path: &Path, content: &str) -> Result<(), KeyError> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(|e| KeyError::file(path, e))?;
    file.write_all(content.as_bytes())
        .map_err(|e| KeyError::file(path, e))
}

/// Journal checkpoints are signed with the active ES256 key and verified with any published
/// key (a retired key still verifies the checkpoints it signed: keep `retired-*.pem`).
impl journal::CheckpointSigner for KeySet {
    fn sign(&self, claims: &Value) -> Result<String, journal::SignatureError> {
        Ok(self.es256.sign_jwt(claims, Some("JWT"))?)
    }

    fn verify(&self, token: &str) -> Result<Value, journal::SignatureError> {
        let header = jsonwebtoken::decode_header(token)?;
        let kid = header.kid.ok_or(CheckpointKeyError::NoKid)?;
        let key = self
            .by_kid(&kid)
            .ok_or_else(|| CheckpointKeyError::UnknownKid(kid.clone()))?;
        if key.algorithm != header.alg {
            return Err(CheckpointKeyError::UnexpectedAlgorithm.into());
        }
        let mut validation = jsonwebtoken::Validation::new(key.algorithm);
        validation.validate_exp = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        Ok(jsonwebtoken::decode::<Value>(token, key.decoding_key(), &validation)?.claims)
    }
}

/// Why a checkpoint's signature names no key this service publishes.
#[derive(Debug, thiserror::Error)]
enum CheckpointKeyError {
    #[error("aucun kid")]
    NoKid,
    #[error("clé {0} inconnue")]
    UnknownKid(String),
    #[error("algorithme inattendu")]
    UnexpectedAlgorithm,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Tokens signed with ring verify with an independent implementation (jsonwebtoken's
    /// RustCrypto backend) against the published key, and carry the expected header.
    #[test]
    fn signatures_verify_against_the_published_key() {
        let claims = json!({ "sub": "usager", "nonce": "n-0", "aud": "fc" });
        for key in [
            SigningKey::es256_from_pem(&generate_es256_pem().unwrap()).unwrap(),
            SigningKey::rs256_from_pem(&generate_rs256_pem().unwrap()).unwrap(),
        ] {
            let token = key.sign_jwt(&claims, Some("JWT")).unwrap();
            let header = jsonwebtoken::decode_header(&token).unwrap();
            assert_eq!(header.alg, key.algorithm);
            assert_eq!(header.kid.as_deref(), Some(key.kid.as_str()));
            assert_eq!(header.typ.as_deref(), Some("JWT"));
            let mut validation = jsonwebtoken::Validation::new(key.algorithm);
            validation.set_audience(&["fc"]);
            validation.required_spec_claims.clear();
            let decoded =
                jsonwebtoken::decode::<Value>(&token, key.decoding_key(), &validation).unwrap();
            assert_eq!(decoded.claims, claims);

            let untyped = key.sign_jwt(&claims, None).unwrap();
            assert_eq!(jsonwebtoken::decode_header(&untyped).unwrap().typ, None);
            let mut forged = token.clone();
            forged.replace_range(forged.len() - 4.., "AAAA");
            assert!(
                jsonwebtoken::decode::<Value>(&forged, key.decoding_key(), &validation).is_err()
            );
        }
    }
}
