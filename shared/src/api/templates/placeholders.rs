//! The placeholders of a template's texts: `{name}` is filled from the setup's `config_values`, `{{` and
//! `}}` are literal braces, and any other brace is an error. A name is an identifier
//! (`[A-Za-z_][A-Za-z0-9_]*`). Not a template engine: no expressions, filters or defaults.

use std::collections::BTreeMap;

/// One piece of a parsed text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece<'a> {
    /// Text as it is written.
    Text(&'a str),
    /// `{{` or `}}`: one literal brace.
    Brace(char),
    /// `{name}`.
    Placeholder(&'a str),
}

/// Why a text does not parse; `at` is the 1-based character position of the offending brace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed {
    pub at: usize,
    pub reason: &'static str,
}

impl std::fmt::Display for Malformed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} at character {} (a placeholder is `{{name}}` with a name of letters, digits and _; \
             write `{{{{` and `}}}}` for literal braces)",
            self.reason, self.at
        )
    }
}

impl std::error::Error for Malformed {}

fn starts_name(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn continues_name(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Splits `text` into text, literal braces and placeholders.
pub fn parse(text: &str) -> Result<Vec<Piece<'_>>, Malformed> {
    let mut pieces = Vec::new();
    let mut chars = text.char_indices().enumerate().peekable();
    // Byte offset where the current run of plain text began.
    let mut run = 0;
    while let Some((position, (at, c))) = chars.next() {
        if c != '{' && c != '}' {
            continue;
        }
        if run < at {
            pieces.push(Piece::Text(&text[run..at]));
        }
        let at_char = position + 1;
        if chars.peek().is_some_and(|&(_, (_, next))| next == c) {
            chars.next();
            pieces.push(Piece::Brace(c));
            run = at + 2;
            continue;
        }
        if c == '}' {
            return Err(Malformed {
                at: at_char,
                reason: "`}` closes no placeholder",
            });
        }
        let start = at + 1;
        match chars.next() {
            None => {
                return Err(Malformed {
                    at: at_char,
                    reason: "`{` is never closed",
                });
            }
            Some((_, (_, first))) if !starts_name(first) => {
                return Err(Malformed {
                    at: at_char,
                    reason: if first == '}' {
                        "`{}` names no placeholder"
                    } else {
                        "`{` is not followed by a placeholder name"
                    },
                });
            }
            Some(_) => {}
        }
        loop {
            match chars.next() {
                Some((_, (_, c))) if continues_name(c) => {}
                Some((_, (end, '}'))) => {
                    pieces.push(Piece::Placeholder(&text[start..end]));
                    run = end + 1;
                    break;
                }
                Some(_) => {
                    return Err(Malformed {
                        at: at_char,
                        reason: "a placeholder name holds only letters, digits and _, then `}`",
                    });
                }
                None => {
                    return Err(Malformed {
                        at: at_char,
                        reason: "`{` is never closed",
                    });
                }
            }
        }
    }
    if run < text.len() {
        pieces.push(Piece::Text(&text[run..]));
    }
    Ok(pieces)
}

/// The placeholder names of `text`, each once, in the order they first appear.
pub fn names(text: &str) -> Result<Vec<String>, Malformed> {
    let mut names: Vec<String> = Vec::new();
    for piece in parse(text)? {
        if let Piece::Placeholder(name) = piece
            && !names.iter().any(|n| n == name)
        {
            names.push(name.to_string());
        }
    }
    Ok(names)
}

/// Why a text could not be filled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FillError {
    Malformed(Malformed),
    /// A placeholder with no value.
    Unfilled(String),
}

/// `text` with every placeholder replaced by its value (inserted as it is: a value's braces are not
/// read as placeholders) and `{{`/`}}` by single braces.
pub fn fill(text: &str, values: &BTreeMap<String, String>) -> Result<String, FillError> {
    let mut out = String::with_capacity(text.len());
    for piece in parse(text).map_err(FillError::Malformed)? {
        match piece {
            Piece::Text(t) => out.push_str(t),
            Piece::Brace(c) => out.push(c),
            Piece::Placeholder(name) => match values.get(name) {
                Some(value) => out.push_str(value),
                None => return Err(FillError::Unfilled(name.to_string())),
            },
        }
    }
    Ok(out)
}

/// garde rule for a template text: its braces parse.
pub fn well_formed(text: &str, _: &()) -> garde::Result {
    parse(text)
        .map(drop)
        .map_err(|e| garde::Error::new(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn placeholders_are_found_once_in_order() {
        assert_eq!(
            names("Hi {name}, welcome to {company}. {name}!").unwrap(),
            ["name", "company"]
        );
        assert_eq!(names("{_a1}{B_2}").unwrap(), ["_a1", "B_2"]);
        assert!(names("no braces at all").unwrap().is_empty());
        assert!(names("").unwrap().is_empty());
    }

    #[test]
    fn doubled_braces_are_literal() {
        assert!(names("{{not_a_placeholder}}").unwrap().is_empty());
        assert_eq!(
            fill("{{x}} is {x}; }} and {{", &values(&[("x", "1")])).unwrap(),
            "{x} is 1; } and {"
        );
        // `{{{x}}}`: a literal brace, the placeholder, a literal brace.
        assert_eq!(fill("{{{x}}}", &values(&[("x", "v")])).unwrap(), "{v}");
        assert_eq!(names("{{{x}}}").unwrap(), ["x"]);
    }

    #[test]
    fn filling_replaces_every_occurrence_and_keeps_the_rest() {
        let v = values(&[("company", "Acme"), ("who", "Ann")]);
        assert_eq!(
            fill("Ünïcode {who} at {company}, {who}.", &v).unwrap(),
            "Ünïcode Ann at Acme, Ann."
        );
        // A value's braces are inserted as they are, not read as placeholders.
        let v = values(&[("a", "{b} and }}")]);
        assert_eq!(fill("[{a}]", &v).unwrap(), "[{b} and }}]");
    }

    #[test]
    fn an_unfilled_placeholder_is_named() {
        assert_eq!(
            fill("{a} {b}", &values(&[("a", "1")])),
            Err(FillError::Unfilled("b".into()))
        );
    }

    #[test]
    fn malformed_braces_are_refused_with_their_position() {
        for (text, at) in [
            ("open {", 6),
            ("open {name", 6),
            ("{}", 1),
            ("{ name }", 1),
            ("{1abc}", 1),
            ("{na-me}", 1),
            ("{name.x}", 1),
            ("close } alone", 7),
            ("é}", 2),
            ("{a}{", 4),
            ("{{{", 3),
            ("}}}", 3),
        ] {
            let err = parse(text).unwrap_err();
            assert_eq!(err.at, at, "{text:?}: {err}");
            assert!(well_formed(text, &()).is_err(), "{text:?}");
            assert!(
                matches!(fill(text, &BTreeMap::new()), Err(FillError::Malformed(_))),
                "{text:?}"
            );
        }
        assert!(parse("{").unwrap_err().to_string().contains("never closed"));
    }
}
