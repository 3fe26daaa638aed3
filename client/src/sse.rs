//! A parser of `text/event-stream` (the Server-Sent Events wire format of the HTML standard): lines
//! ending in LF, CRLF or CR; `field: value` lines; a blank line ends an event; lines starting with `:`
//! are comments (keep-alives).

/// One event of a stream.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SseMessage {
    /// The `event:` field (`None`: the default type, `message`).
    pub event: Option<String>,
    /// The last `id:` seen in the stream so far.
    pub id: Option<String>,
    /// The `data:` lines, joined by LF.
    pub data: String,
}

/// Turns chunks of bytes, cut anywhere, into events.
#[derive(Debug, Default)]
pub struct SseParser {
    buf: Vec<u8>,
    /// The previous chunk ended in CR: a LF starting the next one belongs to that line end.
    skip_lf: bool,
    started: bool,
    event: Option<String>,
    id: Option<String>,
    data: String,
    has_data: bool,
}

impl SseParser {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds a chunk; returns the events it completed.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<SseMessage> {
        let mut chunk = chunk;
        if self.skip_lf && !chunk.is_empty() {
            if chunk[0] == b'\n' {
                chunk = &chunk[1..];
            }
            self.skip_lf = false;
        }
        self.buf.extend_from_slice(chunk);
        if !self.started && self.buf.len() >= 3 {
            self.started = true;
            if self.buf.starts_with("\u{feff}".as_bytes()) {
                self.buf.drain(..3);
            }
        }
        let mut out = Vec::new();
        let mut start = 0;
        let mut i = 0;
        while i < self.buf.len() {
            let b = self.buf[i];
            if b == b'\n' || b == b'\r' {
                let line = String::from_utf8_lossy(&self.buf[start..i]).into_owned();
                if b == b'\r' {
                    if i + 1 < self.buf.len() {
                        if self.buf[i + 1] == b'\n' {
                            i += 1;
                        }
                    } else {
                        self.skip_lf = true;
                    }
                }
                if let Some(message) = self.line(&line) {
                    out.push(message);
                }
                start = i + 1;
            }
            i += 1;
        }
        self.buf.drain(..start);
        out
    }

    fn line(&mut self, line: &str) -> Option<SseMessage> {
        if line.is_empty() {
            let event = self.event.take();
            if !self.has_data {
                return None;
            }
            self.has_data = false;
            let mut data = std::mem::take(&mut self.data);
            data.pop(); // the LF after the last data line
            return Some(SseMessage {
                event,
                id: self.id.clone(),
                data,
            });
        }
        if line.starts_with(':') {
            return None;
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "event" => self.event = Some(value.to_string()),
            "data" => {
                self.data.push_str(value);
                self.data.push('\n');
                self.has_data = true;
            }
            "id" if !value.contains('\0') => self.id = Some(value.to_string()),
            _ => {} // `retry` and unknown fields
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_in_pieces(input: &[u8], piece: usize) -> Vec<SseMessage> {
        let mut p = SseParser::new();
        input.chunks(piece).flat_map(|c| p.push(c)).collect()
    }

    #[test]
    fn events_cut_anywhere_come_out_whole() {
        let input = b":keep-alive\n\nevent: instance.started\nid: e1\ndata: {\"a\":1}\n\n\
            event:bot.status\r\nid:e2\r\ndata: one\r\ndata:  two\r\n\r\ndata: bare\r\r";
        let expected = vec![
            SseMessage {
                event: Some("instance.started".into()),
                id: Some("e1".into()),
                data: "{\"a\":1}".into(),
            },
            SseMessage {
                event: Some("bot.status".into()),
                id: Some("e2".into()),
                data: "one\n two".into(),
            },
            SseMessage {
                event: None,
                id: Some("e2".into()),
                data: "bare".into(),
            },
        ];
        for piece in [1, 2, 3, 7, input.len()] {
            assert_eq!(parse_in_pieces(input, piece), expected, "pieces of {piece}");
        }
    }

    #[test]
    fn comments_and_events_without_data_dispatch_nothing() {
        let mut p = SseParser::new();
        assert!(p.push(b": ping\n\nevent: x\n\nretry: 5\n\n").is_empty());
        // An incomplete event is held until its blank line.
        assert!(p.push(b"data: half").is_empty());
        assert_eq!(p.push(b"\n\n")[0].data, "half");
    }

    #[test]
    fn a_byte_order_mark_is_skipped() {
        let mut p = SseParser::new();
        let m = p.push("\u{feff}data: x\n\n".as_bytes());
        assert_eq!(m[0].data, "x");
    }
}
