//! Signing platform callbacks the way each platform does, so tests can POST them to the manager's
//! `/api/v1/webhooks/{platform}/{instance_id}` (and make wrong, stale and missing signatures on purpose).
//! The manager's `platform_webhooks::verify` checks what these make.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use ed25519_dalek::Signer;
pub use ed25519_dalek::SigningKey;

/// Telegram's header carrying the webhook's secret token (the value is the token itself).
pub const TELEGRAM_SECRET_HEADER: &str = "X-Telegram-Bot-Api-Secret-Token";
/// Meta's header: `sha256=<hex>`.
pub const WHATSAPP_SIGNATURE_HEADER: &str = "X-Hub-Signature-256";
pub const SLACK_SIGNATURE_HEADER: &str = "X-Slack-Signature";
pub const SLACK_TIMESTAMP_HEADER: &str = "X-Slack-Request-Timestamp";
pub const DISCORD_SIGNATURE_HEADER: &str = "X-Signature-Ed25519";
pub const DISCORD_TIMESTAMP_HEADER: &str = "X-Signature-Timestamp";

fn hmac_hex(secret: &str, parts: &[&[u8]]) -> String {
    // HMAC takes a key of any length; this cannot fail.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    for part in parts {
        mac.update(part);
    }
    hex::encode(mac.finalize().into_bytes())
}

/// The `X-Hub-Signature-256` value Meta sends with `body`: `sha256=<hex HMAC-SHA256(app secret, body)>`.
pub fn sign_whatsapp(app_secret: &str, body: &[u8]) -> String {
    format!("sha256={}", hmac_hex(app_secret, &[body]))
}

/// The `X-Slack-Signature` value Slack sends with `body` and `X-Slack-Request-Timestamp: {timestamp}`:
/// `v0=<hex HMAC-SHA256(signing secret, "v0:{timestamp}:{body}")>`.
pub fn sign_slack(signing_secret: &str, timestamp: i64, body: &[u8]) -> String {
    let ts = timestamp.to_string();
    format!(
        "v0={}",
        hmac_hex(signing_secret, &[b"v0:", ts.as_bytes(), b":", body])
    )
}

/// A Discord application's key pair from a 32-byte seed, with its public key as the hex the developer
/// portal shows (what `DiscordCredentials::public_key` holds).
pub fn discord_keys(seed: [u8; 32]) -> (SigningKey, String) {
    let key = SigningKey::from_bytes(&seed);
    let public = hex::encode(key.verifying_key().to_bytes());
    (key, public)
}

/// The `X-Signature-Ed25519` value Discord sends with `body` and `X-Signature-Timestamp: {timestamp}`:
/// hex Ed25519 signature of `{timestamp}{body}`.
pub fn sign_discord(key: &SigningKey, timestamp: &str, body: &[u8]) -> String {
    let mut signed = timestamp.as_bytes().to_vec();
    signed.extend_from_slice(body);
    hex::encode(key.sign(&signed).to_bytes())
}

/// Unix seconds now, for Slack's and Discord's timestamp headers.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The platforms' published vectors: GitHub's for the `X-Hub-Signature-256` scheme Meta shares,
    /// Slack's worked example, RFC 8032 §7.1 TEST 2 for Ed25519.
    #[test]
    fn published_vectors() {
        assert_eq!(
            sign_whatsapp("It's a Secret to Everybody", b"Hello, World!"),
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
        );
        assert_eq!(
            sign_slack(
                "8f742231b10e8888abcd99yyyzzz85a5",
                1531420618,
                b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
            ),
            "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
        );
        let mut seed = [0u8; 32];
        hex::decode_to_slice(
            "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
            &mut seed,
        )
        .expect("seed");
        let (key, public) = discord_keys(seed);
        assert_eq!(
            public,
            "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c"
        );
        assert_eq!(
            sign_discord(&key, "r", b""),
            "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"
        );
    }
}
