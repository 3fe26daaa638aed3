//! Printing: JSON as the manager returned it, aligned tables and `name: value` lists for people.

use std::{fmt::Display, io::Write};

use serde::Serialize;

/// Writes to stdout; a reader that went away (`botfleet … | head`) ends the program quietly.
pub fn out(text: &str) {
    let mut stdout = std::io::stdout().lock();
    let written = stdout
        .write_all(text.as_bytes())
        .and_then(|()| {
            if text.ends_with('\n') {
                Ok(())
            } else {
                stdout.write_all(b"\n")
            }
        })
        .and_then(|()| stdout.flush());
    if let Err(e) = written {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("botfleet: cannot write to stdout: {e}");
        std::process::exit(3);
    }
}

/// The body, pretty-printed.
pub fn json<T: Serialize>(value: &T) {
    out(&serde_json::to_string_pretty(value).expect("the contract's types serialize"));
}

/// The body on one line (streams).
pub fn json_line<T: Serialize>(value: &T) {
    out(&serde_json::to_string(value).expect("the contract's types serialize"));
}

/// Columns padded to their widest cell; the last column is not padded.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut s = String::new();
    let mut line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut l = String::new();
        for (i, (cell, w)) in cells.zip(&widths).enumerate() {
            if i + 1 == widths.len() {
                l.push_str(cell);
            } else {
                l.push_str(&format!("{cell:<w$}  "));
            }
        }
        s.push_str(l.trim_end());
        s.push('\n');
    };
    line(&mut headers.iter().copied());
    for row in rows {
        line(&mut row.iter().map(String::as_str));
    }
    s
}

/// `name: value` lines, the values aligned.
pub fn fields(pairs: &[(&str, String)]) -> String {
    let width = pairs.iter().map(|(k, _)| k.len()).max().unwrap_or(0) + 1;
    pairs
        .iter()
        .map(|(k, v)| format!("{:<width$} {v}\n", format!("{k}:")))
        .collect()
}

/// An RFC 3339 time as `YYYY-MM-DD HH:MM:SS` (UTC), shorter in tables.
pub fn time(rfc3339: &str) -> String {
    if rfc3339.len() >= 19 && rfc3339.as_bytes()[10] == b'T' {
        format!("{} {}", &rfc3339[..10], &rfc3339[11..19])
    } else {
        rfc3339.to_string()
    }
}

/// Unix milliseconds as `YYYY-MM-DD HH:MM:SS` (UTC).
pub fn unix_ms(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's days-to-civil.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// Bytes in binary units: `512 B`, `12.0 MiB`, `3.9 GiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// A value, or `-` when there is none.
pub fn opt<T: Display>(value: Option<T>) -> String {
    value.map_or_else(|| "-".to_string(), |v| v.to_string())
}

/// A serde enum's wire name (`client_ready`, `instance.started`).
pub fn name<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => "?".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_their_columns() {
        let t = table(
            &["ID", "STATUS", "BOT"],
            &[
                vec!["a".into(), "running".into(), "@x".into()],
                vec!["bbbb".into(), "stopped".into(), "-".into()],
            ],
        );
        assert_eq!(
            t,
            "ID    STATUS   BOT\na     running  @x\nbbbb  stopped  -\n"
        );
    }

    #[test]
    fn times_are_shortened() {
        assert_eq!(time("2026-05-01T10:11:12.345Z"), "2026-05-01 10:11:12");
        assert_eq!(time("soon"), "soon");
        assert_eq!(unix_ms(0), "1970-01-01 00:00:00");
        assert_eq!(unix_ms(1_767_225_600_000), "2026-01-01 00:00:00");
        assert_eq!(unix_ms(951_827_696_000), "2000-02-29 12:34:56");
    }

    #[test]
    fn bytes_are_shown_in_binary_units() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(12 * 1024 * 1024), "12.0 MiB");
        assert_eq!(bytes(4_187_593_113), "3.9 GiB");
    }
}
