//! Encryption of every Temporal payload (workflow and activity inputs and results,
//! updates, queries, failure details), so that Temporal's database and Web UI hold no
//! clinical attribute or free-text reason in clear.
//!
//! The key (AES-256-GCM, 32 bytes as 64 hex digits) comes from `CAREFLOW_PAYLOAD_KEY`
//! or the file `--payload-key-file` names; every careflow process of a site (serve,
//! workers) needs the same key. An encrypted payload is the original payload (its
//! metadata too) serialised, sealed with a fresh random nonce, and tagged with the key
//! id (the first 16 hex digits of the key's SHA-256) in its metadata, so that a process
//! with another key says which key it needs instead of failing obscurely. Payloads
//! without the encrypted encoding (written before encryption was turned on) decode as
//! they are, so existing workflows carry on.

use std::path::Path;

use anyhow::{bail, Context, Result};
use futures::future::BoxFuture;
use prost::Message;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};
use sha2::{Digest, Sha256};
use temporalio_common::data_converters::{
    DataConverter, DefaultFailureConverter, PayloadCodec, PayloadConversionError, PayloadConverter,
    SerializationContextData,
};
use temporalio_common::protos::temporal::api::common::v1::Payload;

/// Environment variable holding the payload key (64 hex digits).
pub const KEY_ENV: &str = "CAREFLOW_PAYLOAD_KEY";
/// `encoding` metadata of an encrypted payload.
pub const ENCODING: &[u8] = b"binary/encrypted";
/// Metadata naming the key a payload was sealed with.
pub const KEY_ID: &str = "encryption-key-id";
/// Metadata naming the cipher.
pub const CIPHER: &str = "encryption-cipher";
const CIPHER_NAME: &[u8] = b"AES-256-GCM";

/// The AES-256-GCM codec of a site's payload key.
#[derive(Clone)]
pub struct PayloadCipher {
    key: std::sync::Arc<LessSafeKey>,
    key_id: String,
}

impl std::fmt::Debug for PayloadCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PayloadCipher(key id {})", self.key_id)
    }
}

impl PayloadCipher {
    /// A cipher from 64 hex digits; `source` names where they came from in the error.
    pub fn from_hex(text: &str, source: &str) -> Result<PayloadCipher> {
        let bytes = hex::decode(text.trim())
            .with_context(|| format!("payload key in {source}: not hex"))?;
        if bytes.len() != 32 {
            bail!(
                "payload key in {source}: {} bytes, expected 32 (64 hex digits)",
                bytes.len()
            );
        }
        let key = UnboundKey::new(&AES_256_GCM, &bytes).expect("32 bytes is an AES-256 key");
        Ok(PayloadCipher {
            key: std::sync::Arc::new(LessSafeKey::new(key)),
            key_id: hex::encode(&Sha256::digest(&bytes)[..8]),
        })
    }

    /// The key from `CAREFLOW_PAYLOAD_KEY`, else from `file`; `None` when neither is
    /// given (payloads travel in clear).
    pub fn load(file: Option<&Path>) -> Result<Option<PayloadCipher>> {
        if let Ok(text) = std::env::var(KEY_ENV) {
            return PayloadCipher::from_hex(&text, KEY_ENV).map(Some);
        }
        match file {
            None => Ok(None),
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading payload key file {}", path.display()))?;
                PayloadCipher::from_hex(&text, &path.display().to_string()).map(Some)
            }
        }
    }

    /// The key's id as payloads carry it.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The data converter that seals every payload with this key.
    pub fn data_converter(&self) -> DataConverter {
        DataConverter::new(
            PayloadConverter::default(),
            DefaultFailureConverter::default(),
            self.clone(),
        )
    }

    /// Seals one payload (one already sealed is left as it is).
    pub fn seal(&self, payload: Payload) -> Result<Payload, String> {
        if is_sealed(&payload) {
            return Ok(payload);
        }
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| "no randomness for a payload nonce".to_owned())?;
        let mut data = payload.encode_to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(self.key_id.as_bytes()),
                &mut data,
            )
            .map_err(|_| "sealing a payload failed".to_owned())?;
        let mut sealed = nonce.to_vec();
        sealed.extend_from_slice(&data);
        Ok(Payload {
            metadata: [
                ("encoding".to_owned(), ENCODING.to_vec()),
                (KEY_ID.to_owned(), self.key_id.as_bytes().to_vec()),
                (CIPHER.to_owned(), CIPHER_NAME.to_vec()),
            ]
            .into_iter()
            .collect(),
            data: sealed,
            ..Default::default()
        })
    }

    /// Opens one payload; a payload in clear is returned as it is.
    pub fn open(&self, payload: Payload) -> Result<Payload, String> {
        if !is_sealed(&payload) {
            return Ok(payload);
        }
        let key_id = payload
            .metadata
            .get(KEY_ID)
            .map(|k| String::from_utf8_lossy(k).into_owned())
            .unwrap_or_default();
        if key_id != self.key_id {
            return Err(format!(
                "payload sealed with key {key_id}, this process has key {}: give it that key ({KEY_ENV} or --payload-key-file)",
                self.key_id
            ));
        }
        if payload.data.len() < NONCE_LEN {
            return Err("sealed payload shorter than its nonce".to_owned());
        }
        let (nonce, sealed) = payload.data.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).expect("NONCE_LEN bytes");
        let mut buf = sealed.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(key_id.as_bytes()), &mut buf)
            .map_err(|_| {
                format!("sealed payload (key {key_id}) fails authentication: altered or damaged")
            })?;
        Payload::decode(&plain[..]).map_err(|e| format!("opened payload does not parse: {e}"))
    }
}

fn is_sealed(p: &Payload) -> bool {
    p.metadata.get("encoding").map(Vec::as_slice) == Some(ENCODING)
}

fn each(
    payloads: Vec<Payload>,
    f: impl Fn(Payload) -> Result<Payload, String>,
) -> Result<Vec<Payload>, PayloadConversionError> {
    payloads
        .into_iter()
        .map(|p| f(p).map_err(|e| PayloadConversionError::EncodingError(e.into())))
        .collect()
}

impl PayloadCodec for PayloadCipher {
    fn encode(
        &self,
        _context: &SerializationContextData,
        payloads: Vec<Payload>,
    ) -> BoxFuture<'static, Result<Vec<Payload>, PayloadConversionError>> {
        let out = each(payloads, |p| self.seal(p));
        Box::pin(async move { out })
    }

    fn decode(
        &self,
        _context: &SerializationContextData,
        payloads: Vec<Payload>,
    ) -> BoxFuture<'static, Result<Vec<Payload>, PayloadConversionError>> {
        let out = each(payloads, |p| self.open(p));
        Box::pin(async move { out })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clear(text: &str) -> Payload {
        Payload {
            metadata: [("encoding".to_owned(), b"json/plain".to_vec())]
                .into_iter()
                .collect(),
            data: text.as_bytes().to_vec(),
            ..Default::default()
        }
    }

    #[test]
    fn sealed_payloads_hide_their_content_and_open_again() {
        let cipher = PayloadCipher::from_hex(&"ab".repeat(32), "test").unwrap();
        let original = clear(r#"{"specialty":"cardiology","reason":"patient refused"}"#);
        let sealed = cipher.seal(original.clone()).unwrap();
        assert_eq!(sealed.metadata["encoding"], ENCODING);
        assert_eq!(sealed.metadata[KEY_ID], cipher.key_id().as_bytes());
        let bytes = sealed.encode_to_vec();
        for word in ["cardiology", "refused", "json/plain"] {
            assert!(
                !bytes.windows(word.len()).any(|w| w == word.as_bytes()),
                "{word} in clear"
            );
        }
        // Two seals of one payload differ (fresh nonce) and both open to the original.
        let again = cipher.seal(original.clone()).unwrap();
        assert_ne!(sealed.data, again.data);
        assert_eq!(cipher.open(sealed.clone()).unwrap(), original);
        assert_eq!(cipher.open(again).unwrap(), original);
        // A payload in clear (written before encryption) passes through.
        assert_eq!(cipher.open(original.clone()).unwrap(), original);

        let mut altered = sealed.clone();
        let last = altered.data.len() - 1;
        altered.data[last] ^= 1;
        assert!(cipher
            .open(altered)
            .unwrap_err()
            .contains("fails authentication"));
        let other = PayloadCipher::from_hex(&"cd".repeat(32), "test").unwrap();
        let err = other.open(sealed).unwrap_err();
        assert!(
            err.contains(cipher.key_id()) && err.contains(other.key_id()),
            "{err}"
        );
    }

    #[test]
    fn a_bad_key_is_refused_with_the_reason() {
        assert!(PayloadCipher::from_hex("xyz", "test")
            .unwrap_err()
            .to_string()
            .contains("not hex"));
        assert!(PayloadCipher::from_hex("abcd", "test")
            .unwrap_err()
            .to_string()
            .contains("2 bytes"));
    }
}
