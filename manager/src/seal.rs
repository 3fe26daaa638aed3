//! Secrets sealed at rest. Every secret the manager stores (bot credentials, control keys, agent
//! configurations, webhook secrets and URLs, secret settings) is written as
//!
//! ```text
//! sealed:v1:<key id>:<base64url(nonce ‖ ciphertext ‖ tag)>
//! ```
//!
//! XChaCha20-Poly1305 under a master key that never enters the database (see [`keyring`]), with a
//! random 192-bit nonce per value and, as associated data, the value's place (table, column, row id):
//! a sealed value copied to another row or column does not open. A value without the prefix is a
//! plaintext one written before sealing existed; it reads as it is, and the manager seals it at start
//! (`store::sealing`).

pub mod keyring;
pub mod rotate;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chacha20poly1305::{
    XChaCha20Poly1305, XNonce,
    aead::{Aead, Generate, KeyInit, Payload},
};

pub use keyring::{KeySource, Keyring, MasterKey, MasterKeyArgs};

/// What every sealed value starts with.
pub const PREFIX: &str = "sealed:v1:";
/// Bytes of the nonce in front of the ciphertext.
const NONCE_LEN: usize = 24;
/// Bytes of the Poly1305 tag after it.
const TAG_LEN: usize = 16;

/// Where a value is stored: its associated data, and how errors name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Place<'a> {
    pub table: &'static str,
    pub column: &'static str,
    /// The row's key (an instance id, a settings key, …).
    pub row: &'a str,
}

impl<'a> Place<'a> {
    pub fn new(table: &'static str, column: &'static str, row: &'a str) -> Self {
        Self { table, column, row }
    }

    fn associated_data(&self) -> Vec<u8> {
        format!("botfleet/v1\0{}.{}\0{}", self.table, self.column, self.row).into_bytes()
    }
}

impl std::fmt::Display for Place<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{} of row {:?}", self.table, self.column, self.row)
    }
}

/// A sealed value that cannot be opened. The messages name the place and the key, never the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error(
        "{place} is sealed with master key {key_id}, which is not in the keyring (it holds {known}): \
         start with the master key this database was sealed with"
    )]
    UnknownKey {
        place: String,
        key_id: String,
        known: String,
    },
    #[error(
        "{place} does not open with master key {key_id}: the key under that id is not the one that \
         sealed it, or the stored value was altered or copied from another place"
    )]
    DoesNotOpen { place: String, key_id: String },
    #[error("{place} holds a malformed sealed value")]
    Malformed { place: String },
}

/// Seals and opens values with a keyring: the first key seals, every key opens.
pub struct Sealer {
    keys: Vec<(String, XChaCha20Poly1305)>,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer")
            .field("key_ids", &self.key_ids())
            .finish_non_exhaustive()
    }
}

impl Sealer {
    pub fn new(keyring: &Keyring) -> Self {
        Self {
            keys: keyring
                .keys()
                .iter()
                .map(|k| {
                    let cipher = XChaCha20Poly1305::new_from_slice(k.bytes())
                        .expect("a master key is 32 bytes");
                    (k.id().to_string(), cipher)
                })
                .collect(),
        }
    }

    /// A sealer with one fresh random key, kept nowhere: for tests.
    pub fn ephemeral() -> Self {
        Self::new(&Keyring::new(vec![MasterKey::generate()]))
    }

    /// The id of the key that seals.
    pub fn primary_id(&self) -> &str {
        &self.keys[0].0
    }

    pub fn key_ids(&self) -> Vec<&str> {
        self.keys.iter().map(|(id, _)| id.as_str()).collect()
    }

    /// `plaintext` sealed for `place` under the primary key.
    pub fn seal(&self, place: Place<'_>, plaintext: &str) -> String {
        let (id, cipher) = &self.keys[0];
        let nonce = XNonce::generate();
        let aad = place.associated_data();
        let ciphertext = cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: &aad,
                },
            )
            .expect("XChaCha20-Poly1305 seals any value a database holds");
        let mut body = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        body.extend_from_slice(&nonce);
        body.extend_from_slice(&ciphertext);
        format!("{PREFIX}{id}:{}", URL_SAFE_NO_PAD.encode(body))
    }

    pub fn seal_opt(&self, place: Place<'_>, plaintext: Option<&str>) -> Option<String> {
        plaintext.map(|p| self.seal(place, p))
    }

    /// The plaintext of a value stored at `place`: opened when sealed, as it is when it was stored
    /// before sealing existed.
    pub fn open(&self, place: Place<'_>, stored: &str) -> Result<String, SealError> {
        let Some(rest) = stored.strip_prefix(PREFIX) else {
            return Ok(stored.to_string());
        };
        let malformed = || SealError::Malformed {
            place: place.to_string(),
        };
        let (key_id, body) = rest.split_once(':').ok_or_else(malformed)?;
        let body = URL_SAFE_NO_PAD.decode(body).map_err(|_| malformed())?;
        if body.len() < NONCE_LEN + TAG_LEN {
            return Err(malformed());
        }
        let Some((_, cipher)) = self.keys.iter().find(|(id, _)| id == key_id) else {
            return Err(SealError::UnknownKey {
                place: place.to_string(),
                key_id: key_id.to_string(),
                known: self.key_ids().join(", "),
            });
        };
        let (nonce, ciphertext) = body.split_at(NONCE_LEN);
        let nonce = XNonce::try_from(nonce).map_err(|_| malformed())?;
        let aad = place.associated_data();
        let plaintext = cipher
            .decrypt(
                &nonce,
                Payload {
                    msg: ciphertext,
                    aad: &aad,
                },
            )
            .map_err(|_| SealError::DoesNotOpen {
                place: place.to_string(),
                key_id: key_id.to_string(),
            })?;
        String::from_utf8(plaintext).map_err(|_| malformed())
    }

    pub fn open_opt(
        &self,
        place: Place<'_>,
        stored: Option<&str>,
    ) -> Result<Option<String>, SealError> {
        stored.map(|s| self.open(place, s)).transpose()
    }

    /// Whether `stored` is sealed under the primary key (nothing to do for it at start or rotation).
    pub fn is_current(&self, stored: &str) -> bool {
        key_id_of(stored) == Some(self.primary_id())
    }
}

/// Whether a stored value is sealed (else it is a plaintext one from before sealing).
pub fn is_sealed(stored: &str) -> bool {
    stored.starts_with(PREFIX)
}

/// The id of the key a stored value is sealed with; `None` for a plaintext one.
pub fn key_id_of(stored: &str) -> Option<&str> {
    stored
        .strip_prefix(PREFIX)
        .and_then(|rest| rest.split_once(':'))
        .map(|(id, _)| id)
}

impl From<SealError> for sqlx::Error {
    /// A value that does not open reads as a column that does not decode.
    fn from(e: SealError) -> Self {
        sqlx::Error::Decode(Box::new(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: Place<'static> = Place {
        table: "instances",
        column: "token",
        row: "i-1",
    };

    #[test]
    fn a_sealed_value_opens_to_what_was_sealed_and_shows_nothing_of_it() {
        let sealer = Sealer::ephemeral();
        let secret = "123456:AAE-telegram-s3cr3t";
        let sealed = sealer.seal(TOKEN, secret);
        assert!(sealed.starts_with(&format!("{PREFIX}{}:", sealer.primary_id())));
        assert!(!sealed.contains("s3cr3t"));
        assert_eq!(sealer.open(TOKEN, &sealed).unwrap(), secret);
        // A fresh nonce each time: the same value never seals to the same text.
        assert_ne!(sealer.seal(TOKEN, secret), sealed);
        assert!(sealer.is_current(&sealed));
        assert_eq!(key_id_of(&sealed), Some(sealer.primary_id()));
        assert_eq!(sealer.open(TOKEN, "").unwrap(), "");
        assert_eq!(
            sealer.open(TOKEN, &sealer.seal(TOKEN, "")).unwrap(),
            "",
            "the empty value"
        );
    }

    #[test]
    fn a_value_moved_to_another_row_or_column_does_not_open() {
        let sealer = Sealer::ephemeral();
        let sealed = sealer.seal(TOKEN, "secret");
        for other in [
            Place::new("instances", "token", "i-2"),
            Place::new("instances", "control_key", "i-1"),
            Place::new("webhooks", "token", "i-1"),
        ] {
            assert!(
                matches!(
                    sealer.open(other, &sealed),
                    Err(SealError::DoesNotOpen { .. })
                ),
                "{other}"
            );
        }
    }

    #[test]
    fn another_key_does_not_open_it_and_the_error_says_which_key() {
        let sealer = Sealer::ephemeral();
        let sealed = sealer.seal(TOKEN, "secret");
        let other = Sealer::ephemeral();
        let error = other.open(TOKEN, &sealed).unwrap_err();
        assert!(matches!(error, SealError::UnknownKey { .. }), "{error}");
        assert!(error.to_string().contains(sealer.primary_id()), "{error}");
        assert!(!error.to_string().contains("secret"));
        // The same id on a different key: the tag does not verify.
        let impostor = MasterKey::with_id(sealer.primary_id(), MasterKey::generate().bytes())
            .expect("a valid id");
        let impostor = Sealer::new(&Keyring::new(vec![impostor]));
        assert!(matches!(
            impostor.open(TOKEN, &sealed),
            Err(SealError::DoesNotOpen { .. })
        ));
    }

    #[test]
    fn an_altered_or_truncated_value_is_refused() {
        let sealer = Sealer::ephemeral();
        let sealed = sealer.seal(TOKEN, "secret");
        let mut altered = sealed.clone().into_bytes();
        let last = altered.len() - 1;
        altered[last] = if altered[last] == b'A' { b'B' } else { b'A' };
        let altered = String::from_utf8(altered).unwrap();
        assert!(sealer.open(TOKEN, &altered).is_err());
        let truncated = &sealed[..PREFIX.len() + 12];
        assert!(matches!(
            sealer.open(TOKEN, truncated),
            Err(SealError::Malformed { .. })
        ));
        assert!(matches!(
            sealer.open(TOKEN, &format!("{PREFIX}nokeyid")),
            Err(SealError::Malformed { .. })
        ));
    }

    #[test]
    fn legacy_plaintext_reads_as_it_is() {
        let sealer = Sealer::ephemeral();
        for legacy in ["123:plain-token", "{\"provider\":\"telegram\"}", "bfc_abc"] {
            assert!(!is_sealed(legacy));
            assert_eq!(key_id_of(legacy), None);
            assert!(!sealer.is_current(legacy));
            assert_eq!(sealer.open(TOKEN, legacy).unwrap(), legacy);
        }
        assert_eq!(sealer.open_opt(TOKEN, None).unwrap(), None);
    }

    #[test]
    fn every_key_of_the_ring_opens_and_the_first_seals() {
        let old = MasterKey::generate();
        let new = MasterKey::generate();
        let before = Sealer::new(&Keyring::new(vec![old.clone()]));
        let sealed_old = before.seal(TOKEN, "secret");
        let both = Sealer::new(&Keyring::new(vec![new.clone(), old]));
        assert_eq!(both.open(TOKEN, &sealed_old).unwrap(), "secret");
        assert!(!both.is_current(&sealed_old));
        let sealed_new = both.seal(TOKEN, "secret");
        assert_eq!(key_id_of(&sealed_new), Some(new.id()));
        assert!(both.is_current(&sealed_new));
        let after = Sealer::new(&Keyring::new(vec![new]));
        assert!(after.open(TOKEN, &sealed_old).is_err());
        assert_eq!(after.open(TOKEN, &sealed_new).unwrap(), "secret");
    }

    #[test]
    fn the_debug_form_shows_key_ids_only() {
        let key = MasterKey::generate();
        let shown = format!("{:?}", Sealer::new(&Keyring::new(vec![key.clone()])));
        assert!(shown.contains(key.id()));
        assert!(!shown.contains(&URL_SAFE_NO_PAD.encode(key.bytes())));
    }
}
