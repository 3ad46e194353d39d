//! An incremental reader of server-sent events (`text/event-stream`), fed the body chunk by
//! chunk as it arrives.
//!
//! It follows the event-stream format: lines end with CRLF, LF or CR (a CRLF split across two
//! chunks is one line end); a line starting with `:` is a comment; `field: value` lines set
//! `data` (joined with `\n` over several lines) and `event`; an empty line dispatches the event
//! when it has data. `id` and `retry` are ignored (a stream is never resumed). The body is
//! untrusted: a line or an event longer than the reader's limit is an error, so memory never
//! grows past it.

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SseEvent {
    /// Its `event` field, if any (`message` by default, left to the reader).
    pub event: Option<String>,
    /// Its `data` lines, joined with `\n`.
    pub data: Vec<u8>,
}

/// Why the event stream cannot be read on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SseError {
    /// A line or an event's data is longer than the limit.
    Oversize {
        /// The limit, in bytes.
        limit: usize,
    },
}

impl std::fmt::Display for SseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SseError::Oversize { limit } => write!(f, "an event longer than {limit} bytes"),
        }
    }
}

/// Reads events out of the chunks of an event stream.
#[derive(Debug)]
pub(crate) struct SseReader {
    /// The line read so far (no line end yet).
    line: Vec<u8>,
    /// The current event's data so far.
    data: Vec<u8>,
    /// Whether the current event has a `data` line (an empty one counts).
    has_data: bool,
    /// The current event's `event` field.
    event: Option<String>,
    /// The last chunk ended with CR: an LF starting the next one belongs to that line end.
    after_cr: bool,
    /// At the very start of the stream (a UTF-8 byte order mark is skipped there).
    at_start: bool,
    /// Most bytes of one line plus its event's data.
    limit: usize,
}

const BOM: &[u8] = b"\xEF\xBB\xBF";

impl SseReader {
    /// A reader allowing at most `limit` bytes per event (its lines included).
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            line: Vec::new(),
            data: Vec::new(),
            has_data: false,
            event: None,
            after_cr: false,
            at_start: true,
            limit,
        }
    }

    /// Reads `chunk`, pushing every event it completes onto `events`.
    pub(crate) fn feed(
        &mut self,
        chunk: &[u8],
        events: &mut Vec<SseEvent>,
    ) -> Result<(), SseError> {
        let mut rest = chunk;
        if self.at_start {
            // A byte order mark may itself be split; wait for enough bytes to decide.
            let have = self.line.len() + rest.len();
            let mut probe = self.line.clone();
            probe.extend_from_slice(&rest[..rest.len().min(BOM.len())]);
            if have < BOM.len() && BOM.starts_with(&probe) {
                self.line = probe;
                return Ok(());
            }
            self.at_start = false;
            if probe.starts_with(BOM) {
                let taken = BOM.len() - self.line.len();
                self.line.clear();
                rest = &rest[taken..];
            }
        }
        if self.after_cr {
            self.after_cr = false;
            if let Some(stripped) = rest.strip_prefix(b"\n") {
                rest = stripped;
            }
        }
        while let Some(end) = rest.iter().position(|&b| b == b'\n' || b == b'\r') {
            self.push_line_part(&rest[..end])?;
            let line = std::mem::take(&mut self.line);
            self.line_done(&line, events)?;
            self.line = line;
            self.line.clear();
            let cr = rest[end] == b'\r';
            rest = &rest[end + 1..];
            if cr {
                match rest.first() {
                    Some(b'\n') => rest = &rest[1..],
                    Some(_) => {}
                    None => self.after_cr = true,
                }
            }
        }
        self.push_line_part(rest)
    }

    fn push_line_part(&mut self, part: &[u8]) -> Result<(), SseError> {
        if self.line.len() + part.len() + self.data.len() > self.limit {
            return Err(SseError::Oversize { limit: self.limit });
        }
        self.line.extend_from_slice(part);
        Ok(())
    }

    fn line_done(&mut self, line: &[u8], events: &mut Vec<SseEvent>) -> Result<(), SseError> {
        if line.is_empty() {
            if self.has_data {
                events.push(SseEvent {
                    event: self.event.take(),
                    data: std::mem::take(&mut self.data),
                });
            }
            self.has_data = false;
            self.data.clear();
            self.event = None;
            return Ok(());
        }
        if line[0] == b':' {
            return Ok(());
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(colon) => {
                let value = &line[colon + 1..];
                (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &b""[..]),
        };
        match field {
            b"data" => {
                if self.data.len() + value.len() + 1 > self.limit {
                    return Err(SseError::Oversize { limit: self.limit });
                }
                if self.has_data {
                    self.data.push(b'\n');
                }
                self.data.extend_from_slice(value);
                self.has_data = true;
            }
            b"event" => self.event = Some(String::from_utf8_lossy(value).into_owned()),
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(chunks: &[&[u8]], limit: usize) -> Result<Vec<SseEvent>, SseError> {
        let mut reader = SseReader::new(limit);
        let mut events = Vec::new();
        for chunk in chunks {
            reader.feed(chunk, &mut events)?;
        }
        Ok(events)
    }

    fn data(events: &[SseEvent]) -> Vec<String> {
        events
            .iter()
            .map(|e| String::from_utf8(e.data.clone()).unwrap())
            .collect()
    }

    #[test]
    fn events_split_anywhere_across_chunks_read_the_same() {
        let text = b"event: speech\ndata: {\"a\":1}\n\ndata: two\n\n";
        let whole = read(&[text], 1024).unwrap();
        assert_eq!(data(&whole), ["{\"a\":1}", "two"]);
        assert_eq!(whole[0].event.as_deref(), Some("speech"));
        assert_eq!(whole[1].event, None, "the event name is per event");
        for split in 0..text.len() {
            let (a, b) = text.split_at(split);
            assert_eq!(read(&[a, b], 1024).unwrap(), whole, "split at {split}");
        }
        let bytes: Vec<&[u8]> = text.chunks(1).collect();
        assert_eq!(read(&bytes, 1024).unwrap(), whole, "one byte at a time");
    }

    #[test]
    fn crlf_and_cr_end_lines_even_split_between_chunks() {
        assert_eq!(data(&read(&[b"data: a\r\n\r\n"], 64).unwrap()), ["a"]);
        assert_eq!(
            data(&read(&[b"data: a\r", b"\n\r", b"\n"], 64).unwrap()),
            ["a"]
        );
        assert_eq!(
            data(&read(&[b"data: a\r\rdata: b\r\r"], 64).unwrap()),
            ["a", "b"]
        );
    }

    #[test]
    fn comments_and_unknown_fields_are_skipped() {
        let events = read(&[b": keep-alive\n\nid: 7\nretry: 10\nfoo\ndata:x\n\n"], 64).unwrap();
        assert_eq!(data(&events), ["x"], "no space after the colon is fine too");
    }

    #[test]
    fn data_lines_join_with_newlines_and_an_event_without_data_is_dropped() {
        let events = read(&[b"data: one\ndata\ndata: three\n\nevent: empty\n\n"], 64).unwrap();
        assert_eq!(data(&events), ["one\n\nthree"]);
    }

    #[test]
    fn an_unfinished_event_is_not_dispatched() {
        assert!(read(&[b"data: half"], 64).unwrap().is_empty());
        assert!(read(&[b"data: half\n"], 64).unwrap().is_empty());
    }

    #[test]
    fn a_byte_order_mark_is_skipped_even_split() {
        assert_eq!(
            data(&read(&[b"\xEF\xBB\xBFdata: a\n\n"], 64).unwrap()),
            ["a"]
        );
        assert_eq!(
            data(&read(&[b"\xEF", b"\xBB", b"\xBFdata: a\n\n"], 64).unwrap()),
            ["a"]
        );
    }

    #[test]
    fn an_oversize_line_or_event_is_an_error_without_growing_past_the_limit() {
        let long = vec![b'a'; 100];
        assert_eq!(
            read(&[b"data: ", &long], 64),
            Err(SseError::Oversize { limit: 64 }),
            "a line without an end"
        );
        assert_eq!(
            read(&[&b"data: 0123456789\n"[..]; 8], 64),
            Err(SseError::Oversize { limit: 64 }),
            "many data lines of one event"
        );
        // Events under the limit one by one are fine, however many.
        let many: Vec<&[u8]> = vec![b"data: 0123456789\n\n"; 100];
        assert_eq!(read(&many, 64).unwrap().len(), 100);
    }
}
