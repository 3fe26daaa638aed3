//! Each platform's proof that a callback comes from it, checked on the raw request before anything in it
//! is parsed: Telegram's secret token header, WhatsApp's (Meta's) `X-Hub-Signature-256` HMAC and its
//! `GET` subscription handshake, Slack's `X-Slack-Signature` over `v0:{timestamp}:{body}` with a
//! five-minute window, and Discord's Ed25519 interaction signature.
//!
//! Secrets are compared in constant time (`subtle`, or the MAC's own `verify_slice`); errors say what was
//! wrong, never what was expected or received, so they can be logged and counted as they are. An empty
//! configured secret never verifies anything ([`VerifyError::BadConfig`]).

use std::collections::HashMap;

use axum::http::HeaderMap;
use ed25519_dalek::{Signature, VerifyingKey};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

/// Telegram's header carrying the `secret_token` given to `setWebhook`.
pub const TELEGRAM_SECRET_HEADER: &str = "x-telegram-bot-api-secret-token";
/// Meta's header carrying `sha256=<hex HMAC-SHA256(app secret, raw body)>`.
pub const WHATSAPP_SIGNATURE_HEADER: &str = "x-hub-signature-256";
/// Slack's signature header, `v0=<hex HMAC-SHA256(signing secret, "v0:{ts}:{body}")>`.
pub const SLACK_SIGNATURE_HEADER: &str = "x-slack-signature";
/// Slack's timestamp header, unix seconds.
pub const SLACK_TIMESTAMP_HEADER: &str = "x-slack-request-timestamp";
/// Discord's Ed25519 signature header (hex).
pub const DISCORD_SIGNATURE_HEADER: &str = "x-signature-ed25519";
/// Discord's timestamp header, signed together with the body.
pub const DISCORD_TIMESTAMP_HEADER: &str = "x-signature-timestamp";

/// How far Slack's request timestamp may be from now, either way (Slack documents five minutes).
pub const SLACK_MAX_SKEW_SECS: i64 = 5 * 60;

/// Why a callback was not verified. The text names the header or parameter and what was wrong with
/// it; it never carries a secret, a signature or the expected value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The request lacks a header the platform always sends.
    #[error("missing header {0}")]
    MissingHeader(&'static str),
    /// The handshake lacks a query parameter.
    #[error("missing query parameter {0}")]
    MissingParameter(&'static str),
    /// A header or parameter is there but not in the platform's format.
    #[error("malformed {what}: {reason}")]
    Malformed {
        what: &'static str,
        reason: &'static str,
    },
    /// The signed timestamp is too far from now: a replay or a badly wrong clock.
    #[error("stale timestamp: {age_secs} s away from now, more than the {max_secs} s allowed")]
    StaleTimestamp { age_secs: i64, max_secs: i64 },
    /// Well-formed, but the signature or token does not match this instance's secret.
    #[error("{0} does not match")]
    Mismatch(&'static str),
    /// The instance's own secret or key is empty or unusable: nothing can be verified against it.
    #[error("the instance's {0} is missing or unusable")]
    BadConfig(&'static str),
}

impl VerifyError {
    /// A short fixed label for counting rejections (a metric label): `missing`, `malformed`, `stale`,
    /// `mismatch` or `config`.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::MissingHeader(_) | Self::MissingParameter(_) => "missing",
            Self::Malformed { .. } => "malformed",
            Self::StaleTimestamp { .. } => "stale",
            Self::Mismatch(_) => "mismatch",
            Self::BadConfig(_) => "config",
        }
    }
}

/// A header's value as text: missing → [`VerifyError::MissingHeader`], not visible ASCII (or empty) →
/// [`VerifyError::Malformed`].
fn header<'a>(headers: &'a HeaderMap, name: &'static str) -> Result<&'a str, VerifyError> {
    let value = headers.get(name).ok_or(VerifyError::MissingHeader(name))?;
    let text = value.to_str().map_err(|_| VerifyError::Malformed {
        what: name,
        reason: "not visible ASCII",
    })?;
    let text = text.trim();
    if text.is_empty() {
        return Err(VerifyError::Malformed {
            what: name,
            reason: "empty",
        });
    }
    Ok(text)
}

/// `prefix` followed by exactly `N` bytes of hex (either case).
fn prefixed_hex<const N: usize>(
    value: &str,
    prefix: &str,
    what: &'static str,
) -> Result<[u8; N], VerifyError> {
    let digits = value.strip_prefix(prefix).ok_or(VerifyError::Malformed {
        what,
        reason: "unknown scheme prefix",
    })?;
    let mut out = [0u8; N];
    hex::decode_to_slice(digits, &mut out).map_err(|_| VerifyError::Malformed {
        what,
        reason: "not the expected length of hex",
    })?;
    Ok(out)
}

fn hmac_key(secret: &str, what: &'static str) -> Result<HmacSha256, VerifyError> {
    if secret.is_empty() {
        return Err(VerifyError::BadConfig(what));
    }
    HmacSha256::new_from_slice(secret.as_bytes()).map_err(|_| VerifyError::BadConfig(what))
}

/// Equality of two secrets in constant time, length included (both are hashed first, so a shorter guess
/// takes as long as a right one and reveals no length).
fn secrets_equal(a: &str, b: &str) -> bool {
    let a = Sha256::digest(a.as_bytes());
    let b = Sha256::digest(b.as_bytes());
    bool::from(a.ct_eq(&b))
}

/// Telegram: `X-Telegram-Bot-Api-Secret-Token` equals the `secret_token` the instance gave to
/// `setWebhook`.
pub fn verify_telegram(headers: &HeaderMap, secret_token: &str) -> Result<(), VerifyError> {
    if secret_token.is_empty() {
        return Err(VerifyError::BadConfig("Telegram webhook secret token"));
    }
    let got = header(headers, TELEGRAM_SECRET_HEADER)?;
    if secrets_equal(got, secret_token) {
        Ok(())
    } else {
        Err(VerifyError::Mismatch(TELEGRAM_SECRET_HEADER))
    }
}

/// WhatsApp (Meta's webhooks): `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(app secret, raw body)>`
/// over the body exactly as received.
pub fn verify_whatsapp(
    headers: &HeaderMap,
    body: &[u8],
    app_secret: &str,
) -> Result<(), VerifyError> {
    let mut mac = hmac_key(app_secret, "WhatsApp app secret")?;
    let value = header(headers, WHATSAPP_SIGNATURE_HEADER)?;
    let signature = prefixed_hex::<32>(value, "sha256=", WHATSAPP_SIGNATURE_HEADER)?;
    mac.update(body);
    mac.verify_slice(&signature)
        .map_err(|_| VerifyError::Mismatch(WHATSAPP_SIGNATURE_HEADER))
}

/// WhatsApp's subscription handshake (`GET` with `hub.mode=subscribe`, `hub.verify_token`,
/// `hub.challenge`): when the mode is `subscribe` and the token is ours, the challenge to echo as the
/// plain-text body of a 200. Meta expects a 403 otherwise.
pub fn whatsapp_handshake(
    query: &HashMap<String, String>,
    verify_token: &str,
) -> Result<String, VerifyError> {
    if verify_token.is_empty() {
        return Err(VerifyError::BadConfig("WhatsApp verify token"));
    }
    let mode = query
        .get("hub.mode")
        .ok_or(VerifyError::MissingParameter("hub.mode"))?;
    let token = query
        .get("hub.verify_token")
        .ok_or(VerifyError::MissingParameter("hub.verify_token"))?;
    let challenge = query
        .get("hub.challenge")
        .ok_or(VerifyError::MissingParameter("hub.challenge"))?;
    if mode != "subscribe" {
        return Err(VerifyError::Malformed {
            what: "hub.mode",
            reason: "not subscribe",
        });
    }
    if !secrets_equal(token, verify_token) {
        return Err(VerifyError::Mismatch("hub.verify_token"));
    }
    if challenge.is_empty() {
        return Err(VerifyError::Malformed {
            what: "hub.challenge",
            reason: "empty",
        });
    }
    Ok(challenge.clone())
}

/// Slack: `X-Slack-Signature: v0=<hex HMAC-SHA256(signing secret, "v0:{timestamp}:{body}")>` with
/// `X-Slack-Request-Timestamp` within five minutes of `now_unix` (unix seconds; pass
/// `OffsetDateTime::now_utc().unix_timestamp()`). The window is checked before the MAC.
pub fn verify_slack(
    headers: &HeaderMap,
    body: &[u8],
    signing_secret: &str,
    now_unix: i64,
) -> Result<(), VerifyError> {
    let mut mac = hmac_key(signing_secret, "Slack signing secret")?;
    let timestamp = header(headers, SLACK_TIMESTAMP_HEADER)?;
    let value = header(headers, SLACK_SIGNATURE_HEADER)?;
    let ts: i64 = timestamp.parse().map_err(|_| VerifyError::Malformed {
        what: SLACK_TIMESTAMP_HEADER,
        reason: "not unix seconds",
    })?;
    let age = now_unix.saturating_sub(ts);
    if age.saturating_abs() > SLACK_MAX_SKEW_SECS {
        return Err(VerifyError::StaleTimestamp {
            age_secs: age,
            max_secs: SLACK_MAX_SKEW_SECS,
        });
    }
    let signature = prefixed_hex::<32>(value, "v0=", SLACK_SIGNATURE_HEADER)?;
    mac.update(b"v0:");
    mac.update(timestamp.as_bytes());
    mac.update(b":");
    mac.update(body);
    mac.verify_slice(&signature)
        .map_err(|_| VerifyError::Mismatch(SLACK_SIGNATURE_HEADER))
}

/// Discord interactions: `X-Signature-Ed25519` (hex) is an Ed25519 signature of
/// `{X-Signature-Timestamp}{body}` by the application whose public key (hex, from the developer portal)
/// is `public_key_hex`. Discord does not document a window for the timestamp; it is signed, so it
/// cannot be changed without breaking the signature.
pub fn verify_discord(
    headers: &HeaderMap,
    body: &[u8],
    public_key_hex: &str,
) -> Result<(), VerifyError> {
    let mut key = [0u8; 32];
    hex::decode_to_slice(public_key_hex.trim(), &mut key)
        .map_err(|_| VerifyError::BadConfig("Discord application public key"))?;
    let key = VerifyingKey::from_bytes(&key)
        .map_err(|_| VerifyError::BadConfig("Discord application public key"))?;
    let timestamp = header(headers, DISCORD_TIMESTAMP_HEADER)?;
    let value = header(headers, DISCORD_SIGNATURE_HEADER)?;
    let signature = prefixed_hex::<64>(value, "", DISCORD_SIGNATURE_HEADER)?;
    let signature = Signature::from_bytes(&signature);
    let mut signed = Vec::with_capacity(timestamp.len() + body.len());
    signed.extend_from_slice(timestamp.as_bytes());
    signed.extend_from_slice(body);
    key.verify_strict(&signed, &signature)
        .map_err(|_| VerifyError::Mismatch(DISCORD_SIGNATURE_HEADER))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use ed25519_dalek::{Signer, SigningKey};

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).expect("test header"));
        }
        map
    }

    fn hmac_hex(secret: &str, parts: &[&[u8]]) -> String {
        let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("key");
        for part in parts {
            mac.update(part);
        }
        hex::encode(mac.finalize().into_bytes())
    }

    /// No error text carries what it was given or what it expected.
    fn assert_no_secret(err: &VerifyError, secrets: &[&str]) {
        let text = err.to_string();
        for secret in secrets {
            assert!(!text.contains(secret), "{text:?} echoes a secret");
        }
    }

    // ---- Telegram ----

    #[test]
    fn telegram_valid_wrong_missing_malformed() {
        let secret = "s3cr3t_Token-42";
        assert_eq!(
            verify_telegram(&headers(&[(TELEGRAM_SECRET_HEADER, secret)]), secret),
            Ok(())
        );
        // Header names are case-insensitive on the wire.
        let mut map = HeaderMap::new();
        map.insert(
            "X-Telegram-Bot-Api-Secret-Token",
            HeaderValue::from_static("s3cr3t_Token-42"),
        );
        assert_eq!(verify_telegram(&map, secret), Ok(()));

        let wrong = verify_telegram(
            &headers(&[(TELEGRAM_SECRET_HEADER, "s3cr3t_Token-43")]),
            secret,
        )
        .unwrap_err();
        assert_eq!(wrong, VerifyError::Mismatch(TELEGRAM_SECRET_HEADER));
        assert_eq!(wrong.reason(), "mismatch");
        assert_no_secret(&wrong, &[secret, "s3cr3t_Token-43"]);

        // A prefix of the secret is not the secret.
        assert_eq!(
            verify_telegram(&headers(&[(TELEGRAM_SECRET_HEADER, "s3cr3t")]), secret),
            Err(VerifyError::Mismatch(TELEGRAM_SECRET_HEADER))
        );
        assert_eq!(
            verify_telegram(&HeaderMap::new(), secret),
            Err(VerifyError::MissingHeader(TELEGRAM_SECRET_HEADER))
        );
        let mut map = HeaderMap::new();
        map.insert(
            TELEGRAM_SECRET_HEADER,
            HeaderValue::from_bytes(b"caf\xc3\xa9").expect("opaque header"),
        );
        assert_eq!(
            verify_telegram(&map, secret).unwrap_err().reason(),
            "malformed"
        );
        assert_eq!(
            verify_telegram(&headers(&[(TELEGRAM_SECRET_HEADER, "")]), secret)
                .unwrap_err()
                .reason(),
            "malformed"
        );
    }

    #[test]
    fn telegram_empty_configured_secret_accepts_nothing() {
        assert_eq!(
            verify_telegram(&headers(&[(TELEGRAM_SECRET_HEADER, "x")]), ""),
            Err(VerifyError::BadConfig("Telegram webhook secret token"))
        );
    }

    // ---- WhatsApp ----

    /// GitHub documents this vector for the same `X-Hub-Signature-256: sha256=…` scheme Meta uses
    /// ("Validating webhook deliveries").
    #[test]
    fn whatsapp_documented_vector() {
        let body = b"Hello, World!";
        let sig = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        let map = headers(&[(WHATSAPP_SIGNATURE_HEADER, sig)]);
        assert_eq!(
            verify_whatsapp(&map, body, "It's a Secret to Everybody"),
            Ok(())
        );
        // Upper-case hex is the same signature.
        let map = headers(&[(
            WHATSAPP_SIGNATURE_HEADER,
            &sig.to_uppercase().replace("SHA256=", "sha256="),
        )]);
        assert_eq!(
            verify_whatsapp(&map, body, "It's a Secret to Everybody"),
            Ok(())
        );
    }

    /// RFC 4231 test case 2 (HMAC-SHA256, key "Jefe").
    #[test]
    fn whatsapp_rfc4231_vector() {
        let sig = "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
        let map = headers(&[(WHATSAPP_SIGNATURE_HEADER, sig)]);
        assert_eq!(
            verify_whatsapp(&map, b"what do ya want for nothing?", "Jefe"),
            Ok(())
        );
    }

    #[test]
    fn whatsapp_wrong_tampered_missing_malformed() {
        let secret = "0123456789abcdef0123456789abcdef";
        let body = br#"{"object":"whatsapp_business_account","entry":[]}"#;
        let good = format!("sha256={}", hmac_hex(secret, &[body]));
        assert_eq!(
            verify_whatsapp(
                &headers(&[(WHATSAPP_SIGNATURE_HEADER, &good)]),
                body,
                secret
            ),
            Ok(())
        );

        let other = format!("sha256={}", hmac_hex("another app secret", &[body]));
        let err = verify_whatsapp(
            &headers(&[(WHATSAPP_SIGNATURE_HEADER, &other)]),
            body,
            secret,
        )
        .unwrap_err();
        assert_eq!(err, VerifyError::Mismatch(WHATSAPP_SIGNATURE_HEADER));
        assert_no_secret(&err, &[secret, &other[7..], &good[7..]]);

        let tampered = br#"{"object":"whatsapp_business_account","entry":[1]}"#;
        assert_eq!(
            verify_whatsapp(
                &headers(&[(WHATSAPP_SIGNATURE_HEADER, &good)]),
                tampered,
                secret
            ),
            Err(VerifyError::Mismatch(WHATSAPP_SIGNATURE_HEADER))
        );

        assert_eq!(
            verify_whatsapp(&HeaderMap::new(), body, secret),
            Err(VerifyError::MissingHeader(WHATSAPP_SIGNATURE_HEADER))
        );

        for bad in [
            good[7..].to_string(),                // no scheme
            format!("sha1={}", &good[7..]),       // the old SHA-1 header's scheme
            format!("sha256={}", &good[7..70]),   // short
            format!("sha256={}00", &good[7..]),   // long
            format!("sha256={}zz", &good[7..69]), // not hex
        ] {
            let err = verify_whatsapp(&headers(&[(WHATSAPP_SIGNATURE_HEADER, &bad)]), body, secret)
                .unwrap_err();
            assert_eq!(err.reason(), "malformed", "{bad}");
        }

        assert_eq!(
            verify_whatsapp(&headers(&[(WHATSAPP_SIGNATURE_HEADER, &good)]), body, ""),
            Err(VerifyError::BadConfig("WhatsApp app secret"))
        );
    }

    fn query(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect()
    }

    #[test]
    fn whatsapp_handshake_cases() {
        let token = "my-verify-token";
        assert_eq!(
            whatsapp_handshake(
                &query(&[
                    ("hub.mode", "subscribe"),
                    ("hub.verify_token", token),
                    ("hub.challenge", "1158201444"),
                ]),
                token
            ),
            Ok("1158201444".to_string())
        );
        let err = whatsapp_handshake(
            &query(&[
                ("hub.mode", "subscribe"),
                ("hub.verify_token", "not-it"),
                ("hub.challenge", "1158201444"),
            ]),
            token,
        )
        .unwrap_err();
        assert_eq!(err, VerifyError::Mismatch("hub.verify_token"));
        assert_no_secret(&err, &[token, "not-it"]);
        assert_eq!(
            whatsapp_handshake(
                &query(&[
                    ("hub.mode", "unsubscribe"),
                    ("hub.verify_token", token),
                    ("hub.challenge", "1"),
                ]),
                token
            )
            .unwrap_err()
            .reason(),
            "malformed"
        );
        assert_eq!(
            whatsapp_handshake(
                &query(&[("hub.mode", "subscribe"), ("hub.challenge", "1")]),
                token
            ),
            Err(VerifyError::MissingParameter("hub.verify_token"))
        );
        assert_eq!(
            whatsapp_handshake(
                &query(&[("hub.verify_token", token), ("hub.challenge", "1")]),
                token
            ),
            Err(VerifyError::MissingParameter("hub.mode"))
        );
        assert_eq!(
            whatsapp_handshake(
                &query(&[("hub.mode", "subscribe"), ("hub.verify_token", token)]),
                token
            ),
            Err(VerifyError::MissingParameter("hub.challenge"))
        );
        assert_eq!(
            whatsapp_handshake(
                &query(&[
                    ("hub.mode", "subscribe"),
                    ("hub.verify_token", ""),
                    ("hub.challenge", "1"),
                ]),
                ""
            ),
            Err(VerifyError::BadConfig("WhatsApp verify token"))
        );
    }

    // ---- Slack ----

    const SLACK_DOC_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
    const SLACK_DOC_TS: &str = "1531420618";
    const SLACK_DOC_BODY: &str = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    const SLACK_DOC_SIG: &str =
        "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";
    const SLACK_DOC_NOW: i64 = 1_531_420_618;

    fn slack_headers(ts: &str, sig: &str) -> HeaderMap {
        headers(&[(SLACK_TIMESTAMP_HEADER, ts), (SLACK_SIGNATURE_HEADER, sig)])
    }

    /// The worked example of Slack's "Verifying requests from Slack".
    #[test]
    fn slack_documented_vector() {
        assert_eq!(
            verify_slack(
                &slack_headers(SLACK_DOC_TS, SLACK_DOC_SIG),
                SLACK_DOC_BODY.as_bytes(),
                SLACK_DOC_SECRET,
                SLACK_DOC_NOW + 60
            ),
            Ok(())
        );
    }

    #[test]
    fn slack_window() {
        let h = slack_headers(SLACK_DOC_TS, SLACK_DOC_SIG);
        let body = SLACK_DOC_BODY.as_bytes();
        // Both edges of the window are inside it.
        for now in [SLACK_DOC_NOW + 300, SLACK_DOC_NOW - 300] {
            assert_eq!(verify_slack(&h, body, SLACK_DOC_SECRET, now), Ok(()));
        }
        let err = verify_slack(&h, body, SLACK_DOC_SECRET, SLACK_DOC_NOW + 301).unwrap_err();
        assert_eq!(
            err,
            VerifyError::StaleTimestamp {
                age_secs: 301,
                max_secs: 300
            }
        );
        assert_eq!(err.reason(), "stale");
        // From the future too.
        assert_eq!(
            verify_slack(&h, body, SLACK_DOC_SECRET, SLACK_DOC_NOW - 301)
                .unwrap_err()
                .reason(),
            "stale"
        );
        // A stale request stays stale even when re-signed with the right secret (the window comes
        // first), and an attacker cannot refresh the timestamp without the secret.
        let fresh_ts = (SLACK_DOC_NOW + 3600).to_string();
        assert_eq!(
            verify_slack(
                &slack_headers(&fresh_ts, SLACK_DOC_SIG),
                body,
                SLACK_DOC_SECRET,
                SLACK_DOC_NOW + 3600
            ),
            Err(VerifyError::Mismatch(SLACK_SIGNATURE_HEADER))
        );
    }

    #[test]
    fn slack_wrong_tampered_missing_malformed() {
        let body = SLACK_DOC_BODY.as_bytes();
        let err = verify_slack(
            &slack_headers(SLACK_DOC_TS, SLACK_DOC_SIG),
            body,
            "another signing secret",
            SLACK_DOC_NOW,
        )
        .unwrap_err();
        assert_eq!(err, VerifyError::Mismatch(SLACK_SIGNATURE_HEADER));
        assert_no_secret(&err, &[SLACK_DOC_SECRET, &SLACK_DOC_SIG[3..]]);

        let mut tampered = SLACK_DOC_BODY.to_string();
        tampered.push('x');
        assert_eq!(
            verify_slack(
                &slack_headers(SLACK_DOC_TS, SLACK_DOC_SIG),
                tampered.as_bytes(),
                SLACK_DOC_SECRET,
                SLACK_DOC_NOW
            ),
            Err(VerifyError::Mismatch(SLACK_SIGNATURE_HEADER))
        );

        // A signature made by our own HMAC over the same base string verifies: the scheme, not the
        // vector, is what is checked.
        let ts = "1700000000";
        let body2 = br#"{"type":"event_callback","event_id":"Ev1"}"#;
        let sig = format!(
            "v0={}",
            hmac_hex("s", &[b"v0:", ts.as_bytes(), b":", body2])
        );
        assert_eq!(
            verify_slack(&slack_headers(ts, &sig), body2, "s", 1_700_000_010),
            Ok(())
        );

        assert_eq!(
            verify_slack(
                &headers(&[(SLACK_SIGNATURE_HEADER, SLACK_DOC_SIG)]),
                body,
                SLACK_DOC_SECRET,
                SLACK_DOC_NOW
            ),
            Err(VerifyError::MissingHeader(SLACK_TIMESTAMP_HEADER))
        );
        assert_eq!(
            verify_slack(
                &headers(&[(SLACK_TIMESTAMP_HEADER, SLACK_DOC_TS)]),
                body,
                SLACK_DOC_SECRET,
                SLACK_DOC_NOW
            ),
            Err(VerifyError::MissingHeader(SLACK_SIGNATURE_HEADER))
        );
        for (ts, sig) in [
            ("yesterday", SLACK_DOC_SIG),
            ("1531420618.5", SLACK_DOC_SIG),
            (SLACK_DOC_TS, &SLACK_DOC_SIG[3..]),
            (
                SLACK_DOC_TS,
                "v1=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
            ),
            (SLACK_DOC_TS, "v0=a2114d57"),
            (
                SLACK_DOC_TS,
                "v0=g2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
            ),
        ] {
            let err = verify_slack(
                &slack_headers(ts, sig),
                body,
                SLACK_DOC_SECRET,
                SLACK_DOC_NOW,
            )
            .unwrap_err();
            assert_eq!(err.reason(), "malformed", "{ts} {sig}");
        }
        assert_eq!(
            verify_slack(
                &slack_headers(SLACK_DOC_TS, SLACK_DOC_SIG),
                body,
                "",
                SLACK_DOC_NOW
            ),
            Err(VerifyError::BadConfig("Slack signing secret"))
        );
    }

    // ---- Discord ----

    /// RFC 8032 §7.1 TEST 2: secret key, public key, the one-byte message 0x72 ('r') and its signature.
    const RFC_SECRET: &str = "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb";
    const RFC_PUBLIC: &str = "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c";
    const RFC_SIG: &str = "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00";

    fn discord_headers(ts: &str, sig: &str) -> HeaderMap {
        headers(&[
            (DISCORD_TIMESTAMP_HEADER, ts),
            (DISCORD_SIGNATURE_HEADER, sig),
        ])
    }

    fn rfc_signing_key() -> SigningKey {
        let mut seed = [0u8; 32];
        hex::decode_to_slice(RFC_SECRET, &mut seed).expect("seed");
        SigningKey::from_bytes(&seed)
    }

    /// The RFC vector, its message split as timestamp "r" and an empty body (Discord signs the
    /// concatenation).
    #[test]
    fn discord_rfc8032_vector() {
        assert_eq!(
            hex::encode(rfc_signing_key().verifying_key().to_bytes()),
            RFC_PUBLIC
        );
        assert_eq!(
            verify_discord(&discord_headers("r", RFC_SIG), b"", RFC_PUBLIC),
            Ok(())
        );
        // Upper-case hex in the header and the key.
        assert_eq!(
            verify_discord(
                &discord_headers("r", &RFC_SIG.to_uppercase()),
                b"",
                &RFC_PUBLIC.to_uppercase()
            ),
            Ok(())
        );
    }

    #[test]
    fn discord_valid_wrong_tampered_missing_malformed() {
        let key = rfc_signing_key();
        let public = hex::encode(key.verifying_key().to_bytes());
        let ts = "1700000000";
        let body = br#"{"type":1,"id":"1","application_id":"2","token":"t","version":1}"#;
        let mut signed = ts.as_bytes().to_vec();
        signed.extend_from_slice(body);
        let sig = hex::encode(key.sign(&signed).to_bytes());
        assert_eq!(
            verify_discord(&discord_headers(ts, &sig), body, &public),
            Ok(())
        );

        // Another application's key.
        let other = SigningKey::from_bytes(&[7u8; 32]);
        let other_public = hex::encode(other.verifying_key().to_bytes());
        let err = verify_discord(&discord_headers(ts, &sig), body, &other_public).unwrap_err();
        assert_eq!(err, VerifyError::Mismatch(DISCORD_SIGNATURE_HEADER));
        assert_no_secret(&err, &[&sig, &public]);

        // Tampered body, tampered (replayed-later) timestamp.
        let mut tampered = body.to_vec();
        tampered[7] = b'2';
        assert_eq!(
            verify_discord(&discord_headers(ts, &sig), &tampered, &public),
            Err(VerifyError::Mismatch(DISCORD_SIGNATURE_HEADER))
        );
        assert_eq!(
            verify_discord(&discord_headers("1700000900", &sig), body, &public),
            Err(VerifyError::Mismatch(DISCORD_SIGNATURE_HEADER))
        );
        // A bit flipped in the signature.
        let mut flipped = hex::decode(&sig).expect("hex");
        flipped[0] ^= 1;
        assert_eq!(
            verify_discord(&discord_headers(ts, &hex::encode(&flipped)), body, &public),
            Err(VerifyError::Mismatch(DISCORD_SIGNATURE_HEADER))
        );

        assert_eq!(
            verify_discord(&headers(&[(DISCORD_SIGNATURE_HEADER, &sig)]), body, &public),
            Err(VerifyError::MissingHeader(DISCORD_TIMESTAMP_HEADER))
        );
        assert_eq!(
            verify_discord(&headers(&[(DISCORD_TIMESTAMP_HEADER, ts)]), body, &public),
            Err(VerifyError::MissingHeader(DISCORD_SIGNATURE_HEADER))
        );
        for bad in [
            &sig[..126],
            &format!("{sig}00"),
            &format!("zz{}", &sig[2..]),
        ] {
            assert_eq!(
                verify_discord(&discord_headers(ts, bad), body, &public)
                    .unwrap_err()
                    .reason(),
                "malformed"
            );
        }
        for bad_key in ["", "abcd", &"zz".repeat(32)] {
            assert_eq!(
                verify_discord(&discord_headers(ts, &sig), body, bad_key),
                Err(VerifyError::BadConfig("Discord application public key"))
            );
        }
    }
}
