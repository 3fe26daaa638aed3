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

#[cfg(test)]
mod tests {
    #[test]
    fn secrets_are_long_and_distinct() {
        let (a, b) = (super::webhook_secret(), super::webhook_secret());
        assert!(a.starts_with("whsec_") && a.len() == 6 + 64);
        assert_ne!(a, b);
    }
}
