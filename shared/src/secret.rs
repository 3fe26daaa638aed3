//! Random secrets both sides mint: webhook signing secrets and keys.

/// 244 random bits (two v4 UUIDs) behind `prefix`.
pub fn random_token(prefix: &str) -> String {
    format!(
        "{prefix}{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// A webhook signing secret, `whsec_…`.
pub fn webhook_secret() -> String {
    random_token("whsec_")
}

/// The secret token a Telegram bot in webhook mode gives `setWebhook` and Telegram sends back in
/// `X-Telegram-Bot-Api-Secret-Token`: derived from the instance's control-key digest, which both the
/// manager (who verifies) and the worker (who registers) hold, so no further secret travels. 64 hex
/// digits, within Telegram's `[A-Za-z0-9_-]{1,256}`.
pub fn telegram_webhook_secret(control_key_sha256: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(
        format!("botfleet-telegram-webhook:{control_key_sha256}").as_bytes(),
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_telegram_webhook_secret_is_stable_and_per_instance() {
        let a = super::telegram_webhook_secret("aa");
        assert_eq!(a, super::telegram_webhook_secret("aa"));
        assert_ne!(a, super::telegram_webhook_secret("ab"));
        assert!(a.len() == 64 && a.bytes().all(|b| b.is_ascii_hexdigit()));
    }

    #[test]
    fn secrets_are_long_and_distinct() {
        let (a, b) = (super::webhook_secret(), super::webhook_secret());
        assert!(a.starts_with("whsec_") && a.len() == 6 + 64);
        assert_ne!(a, b);
    }
}

/// A URL as it may be shown: its user information and the values of its query string (where callers put
/// tokens: `?token=…`, `?sig=…`) are replaced by `***`. The scheme, host, port and path stay, so users
/// can still tell which endpoint is configured.
pub fn redact_url(url: &str) -> String {
    let (before_fragment, fragment) = match url.split_once('#') {
        Some((b, f)) => (b, Some(f)),
        None => (url, None),
    };
    let (base, query) = match before_fragment.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (before_fragment, None),
    };
    let mut out = match base.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = match rest.find('/') {
                Some(i) => rest.split_at(i),
                None => (rest, ""),
            };
            let authority = match authority.rsplit_once('@') {
                // A user name alone may be the credential (`https://TOKEN@host`).
                Some((_, host)) => format!("***@{host}"),
                None => authority.to_string(),
            };
            format!("{scheme}://{authority}{path}")
        }
        None => base.to_string(),
    };
    if let Some(query) = query {
        let redacted: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((k, _)) => format!("{k}=***"),
                None => pair.to_string(),
            })
            .collect();
        out.push('?');
        out.push_str(&redacted.join("&"));
    }
    if fragment.is_some() {
        out.push_str("#***");
    }
    out
}

#[cfg(test)]
mod redact_tests {
    use super::redact_url;

    #[test]
    fn credentials_in_urls_are_hidden_and_the_endpoint_kept() {
        assert_eq!(
            redact_url("https://a.example/hook"),
            "https://a.example/hook"
        );
        assert_eq!(
            redact_url("https://bob:pw@a.example:8443/x/y?token=abc&v=1#frag"),
            "https://***@a.example:8443/x/y?token=***&v=***#***"
        );
        assert_eq!(redact_url("http://tok@host"), "http://***@host");
        assert!(!redact_url("http://u:p@h?k=s3cr3t").contains("s3cr3t"));
    }
}
