//! Reading an HTTP/1.x response head as TPT reads it (libcurl 8.10.1 with TPT's header
//! callback in front): a pure, incremental parser over byte slices. No I/O: the connection
//! feeds it what it has read, and it consumes whole lines only.
//!
//! Linear whatever the shape of the bytes: each byte is searched for a line end once (the
//! search resumes where it stopped when more bytes arrive), and each line is looked at once.
//!
//! The states, in one place:
//! - [`State::StatusLine`]: expecting a status line (the first of a head, or of the next head
//!   after an interim 1xx one);
//! - [`State::Fields`]: expecting header lines, until a blank line.
//!
//! What is read as libcurl (and TPT's callback) reads it, decided by the differential harness
//! (crates/tpt-http-fidelity):
//! - every line must end in CRLF: TPT's callback refuses any other, and libcurl then fails the
//!   transfer (600);
//! - a status line is `HTTP/1.0` or `HTTP/1.1`, one blank, three digits, then a space or the
//!   line end. Any other line starting `HTTP/` in any case is read as `200` over HTTP/1.0
//!   (libcurl's alias rule), except a bad `HTTP/1.x` line, an unknown major version or a
//!   well-formed `HTTP/2`/`HTTP/3` line, which libcurl refuses as it refuses HTTP/0.9 (601); a
//!   code under 100 is 601 too, once the head is read;
//! - a header line is split at its first colon, whatever the name holds (blanks, controls,
//!   other bytes, nothing); the name is lower-cased, the value trimmed of spaces and tabs;
//! - a line without a colon fails the transfer (600), unless it starts with a blank after
//!   another header (a folded line): TPT's callback lists it only if it has a colon, as its
//!   own entry;
//! - a head ends at a line starting with CR (or the blank line), whatever follows on that line;
//!   TPT's callback lists it if it has a colon;
//! - a NUL byte, a line over 100 KiB, or a head over 300 KiB fails (600), as in libcurl.

/// libcurl's CURL_MAX_HTTP_HEADER: the longest header line.
pub(crate) const MAX_LINE: usize = 100 * 1024;

/// libcurl's MAX_HTTP_RESP_HEADER_SIZE: all the heads of one response (1xx ones included).
pub(crate) const MAX_HEAD: usize = 300 * 1024;

/// The refusal of a head's end line that does not end in CRLF (libcurl had read the head to
/// its end, and took its length, before TPT's callback refused the line).
pub(crate) const END_NOT_CRLF: &str = "the head's end line does not end in CRLF (TPT refuses it)";

/// Where the parser stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    StatusLine,
    Fields,
}

/// Why a head was refused: the status TPT reports (600 or 601) comes from the kind.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Not an HTTP/1.x answer, or an unsupported one (libcurl: CURLE_UNSUPPORTED_PROTOCOL).
    NotHttp(&'static str),
    /// Anything else (libcurl: a write error or CURLE_WEIRD_SERVER_REPLY).
    Malformed(&'static str),
}

/// A head read whole: its status and headers, and its HTTP version (10 or 11).
#[derive(Debug)]
pub(crate) struct Parsed {
    pub(crate) head: Head,
    pub(crate) version: u8,
}

/// The incremental head parser. Feed it the unconsumed bytes with [`Parser::feed`]; at the
/// end of the stream call [`Parser::end`].
#[derive(Debug)]
pub(crate) struct Parser {
    state: State,
    /// How far into the unconsumed input the search for a line end has already looked.
    scanned: usize,
    /// Bytes of heads consumed so far (interim ones included).
    seen: usize,
    status: u16,
    version: u8,
    headers: Vec<(Vec<u8>, Vec<u8>)>,
    /// The headers of the last head read whole (an interim one): TPT's list until the next
    /// head's status line is accepted.
    previous: Vec<(Vec<u8>, Vec<u8>)>,
    /// Heads read whole so far (interim ones).
    heads: usize,
}

impl Default for Parser {
    fn default() -> Self {
        Parser {
            state: State::StatusLine,
            scanned: 0,
            seen: 0,
            status: 0,
            version: 11,
            headers: Vec::new(),
            previous: Vec::new(),
            heads: 0,
        }
    }
}

impl Parser {
    /// The header list as TPT's callback holds it now: after a failure, what the script gets.
    pub(crate) fn listed(&mut self) -> Vec<(Vec<u8>, Vec<u8>)> {
        match self.state {
            State::Fields => std::mem::take(&mut self.headers),
            State::StatusLine => std::mem::take(&mut self.previous),
        }
    }

    /// Keep a copy of an interim head's headers (they stay listed until the next status line).
    pub(crate) fn interim(&mut self, parsed: &Parsed) {
        self.previous.clone_from(&parsed.head.headers);
    }

    /// Has anything of a head arrived (consumed, or waiting in `pending` unconsumed bytes)?
    pub(crate) fn started(&self, pending: usize) -> bool {
        self.seen + pending > 0
    }

    /// Read the whole lines at the start of `input` (the unconsumed bytes). Returns how many
    /// bytes were consumed, and a head when one ended (an interim 1xx head is returned too:
    /// the caller skips it and feeds on). The bytes not consumed must be fed again, with more
    /// after them, on the next call.
    pub(crate) fn feed(&mut self, input: &[u8]) -> (usize, Result<Option<Parsed>, Refusal>) {
        let mut used = 0;
        loop {
            let rest = &input[used..];
            if self.state == State::StatusLine
                && self.heads == 0
                && !rest.is_empty()
                && !looks_like_http(rest)
            {
                // libcurl decides on the first bytes that this is no HTTP/1.x answer.
                return (used, Err(not_http()));
            }
            let Some(at) = memchr_from(rest, self.scanned) else {
                self.scanned = rest.len();
                if rest.len() > MAX_LINE {
                    return (used, Err(Refusal::Malformed("header line longer than 100 KiB")));
                }
                if self.seen + rest.len() > MAX_HEAD {
                    return (used, Err(Refusal::Malformed("head longer than 300 KiB")));
                }
                return (used, Ok(None));
            };
            self.scanned = 0;
            let line = &rest[..=at];
            used += line.len();
            self.seen += line.len();
            if line.len() > MAX_LINE {
                return (used, Err(Refusal::Malformed("header line longer than 100 KiB")));
            }
            if self.seen > MAX_HEAD {
                return (used, Err(Refusal::Malformed("head longer than 300 KiB")));
            }
            match self.line(line) {
                Ok(None) => {}
                done => return (used, done),
            }
        }
    }

    /// One whole line, its LF included.
    fn line(&mut self, line: &[u8]) -> Result<Option<Parsed>, Refusal> {
        // TPT's callback refuses a line not ending in CRLF; libcurl reads a status line before
        // handing it over, so its own refusals of a status line come first.
        let crlf = line.ends_with(b"\r\n");
        let not_crlf = || Refusal::Malformed("a head line not ending in CRLF (TPT refuses it)");
        let text = line
            .strip_suffix(b"\n")
            .map(|t| t.strip_suffix(b"\r").unwrap_or(t))
            .unwrap_or(line);
        // (libcurl looks for NUL bytes in lines that are not the head's end.)
        let ends_head = self.state == State::Fields && matches!(line[0], b'\r' | b'\n');
        if !ends_head && text.contains(&0) {
            return Err(Refusal::Malformed("NUL byte in the head"));
        }
        match self.state {
            State::StatusLine => {
                if !(line.len() >= 5 && looks_like_http(line)) {
                    // After an interim head libcurl no longer thinks of HTTP/0.9.
                    return Err(if self.heads == 0 {
                        not_http()
                    } else {
                        Refusal::Malformed("invalid status line")
                    });
                }
                let (status, version) = status_line(text)?;
                if !crlf {
                    return Err(not_crlf());
                }
                self.status = status;
                self.version = version;
                self.headers.clear();
                self.state = State::Fields;
                Ok(None)
            }
            // libcurl ends a head at a line starting with CR or LF, whatever follows on it;
            // TPT's callback lists such a line if it has a colon.
            State::Fields if matches!(line[0], b'\r' | b'\n') => {
                if !crlf {
                    return Err(Refusal::Malformed(END_NOT_CRLF));
                }
                if let Some(colon) = text.iter().position(|&b| b == b':') {
                    self.headers.push(entry(&text[..colon], &text[colon + 1..]));
                }
                if self.status < 100 {
                    // libcurl checks the code once the head is read.
                    return Err(Refusal::NotHttp("status code under 100"));
                }
                self.state = State::StatusLine;
                self.heads += 1;
                Ok(Some(self.take()))
            }
            State::Fields => {
                if !crlf {
                    return Err(not_crlf());
                }
                let folded = matches!(text[0], b' ' | b'\t') && !self.headers.is_empty();
                // libcurl's header store reads a line up to its first CR: the colon must be
                // there (a folded line needs none).
                let upto_cr = text.split(|&b| b == b'\r').next().unwrap_or_default();
                if !folded && !upto_cr.contains(&b':') {
                    return Err(Refusal::Malformed("header line without a colon"));
                }
                // TPT's callback lists the line if it has a colon (a folded one without is
                // skipped).
                if let Some(colon) = text.iter().position(|&b| b == b':') {
                    self.headers.push(entry(&text[..colon], &text[colon + 1..]));
                }
                Ok(None)
            }
        }
    }

    fn take(&mut self) -> Parsed {
        Parsed {
            head: Head {
                status: self.status,
                headers: std::mem::take(&mut self.headers),
                cut: false,
            },
            version: self.version,
        }
    }

    /// The stream ended with `rest` unconsumed. A head cut after its status line ends there, as
    /// libcurl reads it (the caller frames the body: a length or chunks still owed are a
    /// truncation; a 1xx head so cut is the answer); anything else that started is a refusal.
    /// `Ok(None)`: nothing of a head had arrived.
    pub(crate) fn end(&mut self, rest: &[u8]) -> Result<Option<Parsed>, Refusal> {
        match self.state {
            // libcurl ends a head cut by the close (after its status line) there, a line cut
            // part way dropped; the caller then frames the body, which must be empty.
            State::Fields if self.status >= 100 => Ok(Some(self.take())),
            State::StatusLine if self.seen == 0 && rest.is_empty() => Ok(None),
            State::StatusLine if self.heads == 0 && !looks_like_http(rest) => Err(not_http()),
            _ => Err(Refusal::Malformed("connection closed inside the head")),
        }
    }
}

fn not_http() -> Refusal {
    Refusal::NotHttp("not an HTTP/1.x status line (HTTP/0.9 is refused)")
}

/// The position of the first LF in `bytes` at or after `from`.
fn memchr_from(bytes: &[u8], from: usize) -> Option<usize> {
    bytes
        .get(from..)?
        .iter()
        .position(|&b| b == b'\n')
        .map(|i| i + from)
}

/// Could `bytes` be the start of a status line (`HTTP/`, in any case)?
fn looks_like_http(bytes: &[u8]) -> bool {
    let n = bytes.len().min(5);
    bytes[..n].eq_ignore_ascii_case(&b"HTTP/"[..n])
}

/// A status line (without its CRLF): the code and the version, as libcurl reads it.
fn status_line(text: &[u8]) -> Result<(u16, u8), Refusal> {
    let not_http = || Refusal::NotHttp("not an HTTP/1.x status line (HTTP/0.9 is refused)");
    let digits = |p: &[u8]| -> Option<u16> {
        (p.len() >= 3 && p[..3].iter().all(u8::is_ascii_digit))
            .then(|| p[..3].iter().fold(0u16, |n, d| n * 10 + u16::from(d - b'0')))
    };
    // After the code: a space (any ASCII space, the CR of the line end included) or nothing.
    let ends = |p: &[u8]| p.first().is_none_or(|b| b.is_ascii_whitespace() || *b == 0x0b);
    let blank = |b: Option<&u8>| matches!(b, Some(b' ' | b'\t'));
    let mut fine = None;
    if let Some(p) = text.strip_prefix(b"HTTP/") {
        match p.first() {
            Some(b'1') => {
                if p.get(1) == Some(&b'.') && matches!(p.get(2), Some(b'0' | b'1')) && blank(p.get(3)) {
                    let version = 10 + (p[2] - b'0');
                    if let Some(code) = digits(&p[4..]).filter(|_| ends(&p[7.min(p.len())..])) {
                        fine = Some((code, version));
                    }
                }
                if fine.is_none() {
                    return Err(Refusal::NotHttp("unsupported HTTP/1 version in the status line"));
                }
            }
            Some(b'2' | b'3') => {
                if blank(p.get(1)) && digits(&p[2..]).is_some() && ends(&p[5.min(p.len())..]) {
                    // A well-formed HTTP/2 or HTTP/3 status line on an HTTP/1.x connection.
                    return Err(Refusal::NotHttp("HTTP/2 or HTTP/3 status line over HTTP/1.x"));
                }
            }
            _ => return Err(Refusal::NotHttp("unsupported HTTP version in the status line")),
        }
    }
    let (code, version) = match fine {
        Some(f) => f,
        // libcurl's alias rule: any other line starting with HTTP/ is a 200 over HTTP/1.0.
        None if looks_like_http(text) && text.len() >= 5 => (200, 10),
        None => return Err(not_http()),
    };
    Ok((code, version))
}

/// A header as TPT's callback lists it: split at the first colon, the name lower-cased, the
/// value trimmed of spaces and tabs.
fn entry(name: &[u8], value: &[u8]) -> (Vec<u8>, Vec<u8>) {
    (name.to_ascii_lowercase(), crate::spec::trim(value).to_vec())
}

/// libcurl's reading of a Content-Length value (curlx_strtoofft, base 10): leading blanks
/// skipped; a sign `-` or another space first is invalid; then what strtoll reads (an optional
/// `+`, digits; trailing bytes ignored). `Err(())` when nothing is read; `Ok(None)` when the
/// number overflows (libcurl then treats the length as unknown).
pub(crate) fn content_length(value: &[u8]) -> Result<Option<u64>, ()> {
    let mut p = value;
    while let [b' ' | b'\t', rest @ ..] = p {
        p = rest;
    }
    if matches!(p.first(), Some(b'-')) || p.first().is_some_and(|b| b.is_ascii_whitespace() || *b == 0x0b) {
        return Err(());
    }
    if let [b'+', rest @ ..] = p {
        p = rest;
    }
    let digits = p.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 {
        return Err(());
    }
    let mut n: u64 = 0;
    for d in &p[..digits] {
        match n.checked_mul(10).and_then(|n| n.checked_add(u64::from(d - b'0'))) {
            Some(v) if v <= i64::MAX as u64 => n = v,
            _ => return Ok(None),
        }
    }
    Ok(Some(n))
}

/// A response head: the status and the headers as TPT reports them.
#[derive(Debug, Default)]
pub(crate) struct Head {
    pub(crate) status: u16,
    /// Names lower-cased, values trimmed of spaces and tabs, in the order they arrived.
    pub(crate) headers: Vec<(Vec<u8>, Vec<u8>)>,
    /// The head ended with the connection, before its blank line: libcurl never learnt a length.
    pub(crate) cut: bool,
}

impl Head {
    /// The first value of header `name` (lower-case).
    pub(crate) fn get(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n == name.as_bytes())
            .map(|(_, v)| v.as_slice())
    }

    /// Every value of header `name` (lower-case).
    pub(crate) fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n == name.as_bytes())
            .map(|(_, v)| v.as_slice())
    }

    /// The body length the head announces, as libcurl reads Content-Length: the last header
    /// wins; see [`content_length`].
    pub(crate) fn length(&self) -> Length {
        let mut length = Length::None;
        // libcurl reads each Content-Length as it arrives: any invalid one fails, the last wins.
        for value in self.all("content-length") {
            length = match content_length(value) {
                Err(()) => return Length::Invalid,
                Ok(None) => Length::Overflow,
                Ok(Some(n)) => Length::Known(n),
            };
        }
        length
    }

    /// Is the body chunked? As libcurl (which decodes no other transfer coding here): the
    /// Transfer-Encoding tokens are read in order up to the first that is not `chunked`.
    pub(crate) fn is_chunked(&self) -> bool {
        self.all("transfer-encoding")
            .flat_map(|v| v.split(|&b| b == b','))
            .map(crate::spec::trim)
            .filter(|t| !t.is_empty())
            .take_while(|t| t.eq_ignore_ascii_case(b"chunked"))
            .count()
            > 0
    }

    /// Does a comma-separated header `name` hold `token` (case-insensitively)?
    pub(crate) fn has_token(&self, name: &str, token: &str) -> bool {
        self.all(name)
            .flat_map(|v| v.split(|&b| b == b','))
            .any(|t| crate::spec::trim(t).eq_ignore_ascii_case(token.as_bytes()))
    }
}

/// What a head's Content-Length says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Length {
    /// No Content-Length header.
    None,
    /// A length.
    Known(u64),
    /// A number too large: libcurl treats the length as unknown.
    Overflow,
    /// Not a number: libcurl fails the transfer.
    Invalid,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(bytes: &[u8]) -> Result<Option<Parsed>, Refusal> {
        let mut p = Parser::default();
        let (used, r) = p.feed(bytes);
        assert!(used <= bytes.len());
        r
    }

    #[test]
    fn status_lines_as_libcurl_reads_them() {
        assert_eq!(status_line(b"HTTP/1.1 200 OK"), Ok((200, 11)));
        assert_eq!(status_line(b"HTTP/1.0 404"), Ok((404, 10)));
        assert_eq!(status_line(b"HTTP/1.1\t204 X"), Ok((204, 11)));
        assert_eq!(status_line(b"http/1.1 404 Not Found"), Ok((200, 10)));
        assert_eq!(status_line(b"HTTP/2.0 404 X"), Ok((200, 10)));
        assert!(matches!(status_line(b"HTTP/2 301"), Err(Refusal::NotHttp(_))));
        assert!(matches!(
            status_line(b"HTTP/1.1  200 OK"),
            Err(Refusal::NotHttp(_))
        ));
        assert_eq!(status_line(b"HTTP/1.1 099 X"), Ok((99, 11)));
        assert!(matches!(
            parse(b"HTTP/1.1 099 X\r\n\r\n"),
            Err(Refusal::NotHttp(_))
        ));
        assert!(matches!(
            status_line(b"HTTP/1.1 1000 X"),
            Err(Refusal::NotHttp(_))
        ));
        assert!(matches!(status_line(b"HTTP/1.2 200 X"), Err(Refusal::NotHttp(_))));
        assert!(matches!(status_line(b"HTTP/4 200 X"), Err(Refusal::NotHttp(_))));
        assert!(matches!(status_line(b"ICY 200 OK"), Err(Refusal::NotHttp(_))));
    }

    #[test]
    fn header_lines_split_at_the_first_colon() {
        let got = parse(b"HTTP/1.1 200 OK\r\nBad Name : a:b \r\n: v\r\nX\x01: a\rb\r\n\r\n")
            .expect("read")
            .expect("whole");
        assert_eq!(
            got.head.headers,
            vec![
                (b"bad name ".to_vec(), b"a:b".to_vec()),
                (b"".to_vec(), b"v".to_vec()),
                (b"x\x01".to_vec(), b"a\rb".to_vec()),
            ]
        );
    }

    #[test]
    fn refusals() {
        let m = |b: &[u8]| matches!(parse(b), Err(Refusal::Malformed(_)));
        assert!(m(b"HTTP/1.1 200 OK\r\nNoColon\r\n\r\n"));
        assert!(m(b"HTTP/1.1 200 OK\nA: 1\n\n"));
        assert!(m(b"HTTP/1.1 200 OK\r\nA: 1\n\r\n"));
        assert!(m(b"HTTP/1.1 200 OK\r\nA: \0\r\n\r\n"));
        assert!(m(b"HTTP/1.1 200 OK\r\nA: 1\r\n\n"));
        assert!(matches!(
            parse(b"HTTP/1.\n1 200 OK\r\n\r\n"),
            Err(Refusal::NotHttp(_))
        ));
        // A line starting with CR ends the head (listed if it has a colon).
        let got = parse(b"HTTP/1.1 200 OK\r\nA: 1\r\n\rB: 2\r\nC: 3\r\n\r\n")
            .expect("read")
            .expect("whole");
        assert_eq!(
            got.head.headers,
            vec![(b"a".to_vec(), b"1".to_vec()), (b"\rb".to_vec(), b"2".to_vec())]
        );
        let long = [
            b"HTTP/1.1 200 OK\r\nA: ".as_slice(),
            &[b'a'; MAX_LINE],
            b"\r\n\r\n",
        ]
        .concat();
        assert!(m(&long));
        // Folded lines: listed alone when they have a colon, skipped when not.
        let got = parse(b"HTTP/1.1 200 OK\r\nA: 1\r\n  more\r\n\tb: 2\r\n\r\n")
            .expect("read")
            .expect("whole");
        assert_eq!(got.head.headers.len(), 2);
        assert_eq!(got.head.headers[1], (b"\tb".to_vec(), b"2".to_vec()));
    }

    #[test]
    fn cut_heads() {
        let mut p = Parser::default();
        let (used, r) = p.feed(b"HTTP/1.1 204 No Content\r\nA: 1\r\n");
        assert!(matches!(r, Ok(None)));
        assert_eq!(used, 31);
        assert_eq!(
            p.end(b"")
                .expect("a 204 cut after whole lines")
                .map(|p| p.head.status),
            Some(204)
        );
        let mut p = Parser::default();
        let _ = p.feed(b"HTTP/1.1 200 OK\r\nA: 1\r\n");
        assert_eq!(
            p.end(b"Content-Le").expect("cut").map(|p| p.head.headers.len()),
            Some(1)
        );
        let mut p = Parser::default();
        let _ = p.feed(b"HTTP/1.1 200");
        assert!(p.end(b"HTTP/1.1 200").is_err());
        assert!(matches!(
            Parser::default().end(b"HELLO"),
            Err(Refusal::NotHttp(_))
        ));
        assert!(matches!(Parser::default().end(b""), Ok(None)));
    }

    /// A head fed one byte at a time is read as when fed whole, and the bytes searched for a
    /// line end stay linear in the input (the search resumes, never restarts).
    #[test]
    fn byte_by_byte() {
        let whole = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\n\r\n";
        let mut p = Parser::default();
        let mut buf = Vec::new();
        let mut heads = Vec::new();
        for &b in whole {
            buf.push(b);
            let (used, r) = p.feed(&buf);
            buf.drain(..used);
            if let Some(parsed) = r.expect("fine") {
                heads.push(parsed.head.status);
            }
        }
        assert_eq!(heads, vec![100, 200]);
    }

    #[test]
    fn content_lengths_as_strtoofft() {
        assert_eq!(content_length(b"5"), Ok(Some(5)));
        assert_eq!(content_length(b" +5"), Ok(Some(5)));
        assert_eq!(content_length(b"5, 5"), Ok(Some(5)));
        assert_eq!(content_length(b"2abc"), Ok(Some(2)));
        assert_eq!(content_length(b"0x2"), Ok(Some(0)));
        assert_eq!(content_length(b"99999999999999999999999"), Ok(None));
        assert_eq!(content_length(b"-1"), Err(()));
        assert_eq!(content_length(b""), Err(()));
        assert_eq!(content_length(b"+"), Err(()));
        assert_eq!(content_length(b"abc"), Err(()));
    }
}
