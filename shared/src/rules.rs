//! garde rules both APIs share.

/// A space for the "not blank" rule: Rust's whitespace, plus what other validators count as one (Python's
/// `\s` also matches U+001C to U+001F, ECMAScript's U+FEFF), so a text the schema's `\S` pattern refuses
/// in any of them is refused here too.
fn is_space(c: char) -> bool {
    c.is_whitespace() || matches!(c, '\u{1c}'..='\u{1f}' | '\u{feff}')
}

/// garde rule: some character other than a space (the schema says `pattern: \S`).
pub fn not_blank(s: &str, _: &()) -> garde::Result {
    if s.chars().all(is_space) {
        Err(garde::Error::new("must not be blank"))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn blank_means_spaces_of_any_validator() {
        assert!(super::not_blank("hi", &()).is_ok());
        assert!(super::not_blank(" \u{a0}x", &()).is_ok());
        for blank in ["", "  ", "\t\n", "\u{1c}", "\u{feff}", "\u{3000}"] {
            assert!(super::not_blank(blank, &()).is_err(), "{blank:?}");
        }
    }
}
