//! Answers that go on: a followed log (text lines) and Server-Sent Events (typed events).

use std::{collections::VecDeque, marker::PhantomData};

use futures::Stream;
use serde::de::DeserializeOwned;

use crate::{ClientError, DecodeError, SseMessage, SseParser};

/// The lines of a streamed text answer, as they arrive. Dropping it closes the connection.
#[derive(Debug)]
pub struct LineStream {
    response: reqwest::Response,
    buf: Vec<u8>,
    done: bool,
}

impl LineStream {
    pub(crate) fn new(response: reqwest::Response) -> Self {
        Self {
            response,
            buf: Vec::new(),
            done: false,
        }
    }

    /// The next line, without its line end; `None` once the server ended the answer.
    pub async fn next_line(&mut self) -> Result<Option<String>, ClientError> {
        loop {
            if let Some(end) = self.buf.iter().position(|&b| b == b'\n') {
                let mut line: Vec<u8> = self.buf.drain(..=end).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Ok(Some(String::from_utf8_lossy(&line).into_owned()));
            }
            if self.done {
                if self.buf.is_empty() {
                    return Ok(None);
                }
                let rest = std::mem::take(&mut self.buf);
                return Ok(Some(String::from_utf8_lossy(&rest).into_owned()));
            }
            match self
                .response
                .chunk()
                .await
                .map_err(ClientError::Transport)?
            {
                Some(chunk) => self.buf.extend_from_slice(&chunk),
                None => self.done = true,
            }
        }
    }

    /// The same as a [`Stream`]; it ends after the first error.
    pub fn into_stream(self) -> impl Stream<Item = Result<String, ClientError>> {
        futures::stream::unfold(Some(self), |state| async move {
            let mut lines = state?;
            match lines.next_line().await {
                Ok(Some(line)) => Some((Ok(line), Some(lines))),
                Ok(None) => None,
                Err(e) => Some((Err(e), None)),
            }
        })
    }
}

/// A Server-Sent Events answer whose events carry `T` as JSON in their data. Dropping it closes the
/// connection.
#[derive(Debug)]
pub struct SseStream<T> {
    response: reqwest::Response,
    parser: SseParser,
    pending: VecDeque<SseMessage>,
    done: bool,
    request: String,
    _event: PhantomData<fn() -> T>,
}

impl<T: DeserializeOwned> SseStream<T> {
    pub(crate) fn new(response: reqwest::Response) -> Self {
        let request = format!("GET {}", response.url().path());
        Self {
            response,
            parser: SseParser::new(),
            pending: VecDeque::new(),
            done: false,
            request,
            _event: PhantomData,
        }
    }

    /// The next event as it came (type, id, data); `None` once the server ended the stream.
    pub async fn next_message(&mut self) -> Result<Option<SseMessage>, ClientError> {
        loop {
            if let Some(message) = self.pending.pop_front() {
                return Ok(Some(message));
            }
            if self.done {
                return Ok(None);
            }
            match self
                .response
                .chunk()
                .await
                .map_err(ClientError::Transport)?
            {
                Some(chunk) => self.pending.extend(self.parser.push(&chunk)),
                None => self.done = true,
            }
        }
    }

    /// The next event's data, decoded.
    pub async fn next(&mut self) -> Result<Option<T>, ClientError> {
        let Some(message) = self.next_message().await? else {
            return Ok(None);
        };
        serde_json::from_str(&message.data).map(Some).map_err(|e| {
            ClientError::Decode(DecodeError {
                request: format!(
                    "{} (event {})",
                    self.request,
                    message.id.as_deref().unwrap_or("without an id")
                ),
                reason: e.to_string(),
            })
        })
    }

    /// The decoded events as a [`Stream`]; it ends after the first error.
    pub fn into_stream(self) -> impl Stream<Item = Result<T, ClientError>> {
        futures::stream::unfold(Some(self), |state| async move {
            let mut events = state?;
            match events.next().await {
                Ok(Some(event)) => Some((Ok(event), Some(events))),
                Ok(None) => None,
                Err(e) => Some((Err(e), None)),
            }
        })
    }
}
