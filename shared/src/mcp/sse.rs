//! An incremental reader of `text/event-stream` bodies (HTML Living Standard, "Server-sent
//! events", §9.2.6 "Interpreting an event stream"), reduced to what MCP's Streamable HTTP
//! transport needs: the `data` of each event. `id`, `event` and `retry` are read past; an
//! MCP client that only POSTs never resumes a stream.
//!
//! Chunks arrive as the network delivers them, so an event may be split anywhere, even
//! inside a UTF-8 sequence: bytes are buffered until a whole line is there.

#[derive(Debug, Default)]
pub struct SseParser {
    /// Bytes of the line being received.
    line: Vec<u8>,
    /// The data lines of the event being received, joined by `\n`.
    data: String,
    has_data: bool,
}

impl SseParser {
    /// Feeds one chunk; returns the data of every event it completed, in order. Events
    /// with no data (priming events, keep-alive comments) yield nothing.
    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<String>, std::str::Utf8Error> {
        let mut events = Vec::new();
        for &byte in chunk {
            if byte == b'\n' {
                let mut line = std::mem::take(&mut self.line);
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                let line = std::str::from_utf8(&line)?;
                if let Some(event) = self.line(line) {
                    events.push(event);
                }
            } else {
                self.line.push(byte);
            }
        }
        Ok(events)
    }

    /// The stream ended: an event not yet closed by a blank line still counts (the
    /// specification discards it; being lenient costs nothing when we match ids anyway).
    pub fn finish(mut self) -> Result<Option<String>, std::str::Utf8Error> {
        let rest = std::mem::take(&mut self.line);
        let rest = std::str::from_utf8(&rest)?.trim_end_matches('\r').to_owned();
        if !rest.is_empty()
            && let Some(event) = self.line(&rest)
        {
            return Ok(Some(event));
        }
        Ok(self.line(""))
    }

    fn line(&mut self, line: &str) -> Option<String> {
        if line.is_empty() {
            let data = std::mem::take(&mut self.data);
            // An event whose data is empty is not dispatched (§9.2.6), e.g. rmcp's priming event.
            return (std::mem::take(&mut self.has_data) && !data.is_empty()).then_some(data);
        }
        if line.starts_with(':') {
            return None;
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        if field == "data" {
            if self.has_data {
                self.data.push('\n');
            }
            self.data.push_str(value);
            self.has_data = true;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_split_across_chunks_are_reassembled() {
        let mut parser = SseParser::default();
        let mut events = parser.push(b"id: 0\nretry: 3000\ndata:\n\n: ping\n\nevent: message\nda").unwrap();
        events.extend(parser.push(b"ta: {\"a\":\r\ndata: 1}\r\n\r\ndata: \xc3").unwrap());
        events.extend(parser.push(b"\xa9\n\n").unwrap());
        assert_eq!(events, vec!["{\"a\":\n1}".to_string(), "é".to_string()]);
    }

    #[test]
    fn an_unterminated_last_event_is_kept() {
        let mut parser = SseParser::default();
        assert!(parser.push(b"data: {}").unwrap().is_empty());
        assert_eq!(parser.finish().unwrap().as_deref(), Some("{}"));
    }
}
