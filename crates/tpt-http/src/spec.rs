//! What a script asked for, and the pure rules that turn it into what goes on the wire.
//!
//! This module has no I/O and knows nothing of Lua or hyper: it parses and checks URLs
//! ([`parse_url`]), merges the caller's headers with the client's defaults as libcurl does
//! ([`merge_headers`]), and encodes request bodies, including `multipart/form-data`
//! ([`encode_multipart`]).

use crate::failure::{Failure, FailureKind};
use url::Url;

/// Headers as `(name, value)` byte pairs, in order, duplicates kept.
pub type HeaderList = Vec<(Vec<u8>, Vec<u8>)>;

/// One part of a multipart form: `{name, value, [filename], [content_type]}` in Lua.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FormItem {
    /// The part's field name.
    pub name: Vec<u8>,
    /// The part's content (binary-safe).
    pub value: Vec<u8>,
    /// File name for a file part.
    pub filename: Option<Vec<u8>>,
    /// Content-Type of the part.
    pub content_type: Option<Vec<u8>>,
}

/// The body a script gave to `http.post`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PostBody {
    /// A raw body, sent with libcurl's default `application/x-www-form-urlencoded` type.
    /// May be empty: a POST with a zero-length body.
    Raw(Vec<u8>),
    /// A non-empty form, sent as `multipart/form-data`.
    Form(Vec<FormItem>),
}

/// Everything a script passed to `http.get` / `http.post`, already checked for Lua-level errors.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestSpec {
    /// The URI as the script gave it.
    pub url: Vec<u8>,
    /// `Some` for `http.post` (even with an empty body), `None` for `http.get`.
    pub post: Option<PostBody>,
    /// Caller headers in order, as `(name, value)`.
    pub headers: Vec<(Vec<u8>, Vec<u8>)>,
    /// A method replacing GET/POST (`None` or empty: the normal method).
    pub verb: Option<Vec<u8>>,
    /// Beyond TPT: give up with 605 after this long (a per-request option; the host's policy
    /// still applies on top).
    pub timeout: Option<std::time::Duration>,
    /// Beyond TPT: ask for a gzip or deflate body and decode it (a per-request option).
    pub compressed: bool,
}

impl RequestSpec {
    /// A plain GET of `url`.
    pub fn get(url: impl Into<Vec<u8>>) -> RequestSpec {
        RequestSpec {
            url: url.into(),
            post: None,
            headers: Vec::new(),
            verb: None,
            timeout: None,
            compressed: false,
        }
    }

    /// What this request asks to send, as the policy's request-size limit
    /// ([`crate::Config::max_request_bytes`]) counts it: the URL, each caller header as its line
    /// `name: value` and line end, the verb, and the body (a form as it will be encoded). The
    /// client's own headers (Host, User-Agent, ...) are not counted.
    ///
    /// # Example
    /// ```
    /// use tpt_http::spec::{PostBody, RequestSpec};
    /// let mut spec = RequestSpec::get("http://a.test/");
    /// spec.headers.push((b"X".to_vec(), b"1".to_vec()));
    /// spec.post = Some(PostBody::Raw(vec![0; 100]));
    /// assert_eq!(spec.request_size(), 14 + 6 + 100);
    /// ```
    pub fn request_size(&self) -> u64 {
        let len = |b: &[u8]| b.len() as u64;
        let headers: u64 = self.headers.iter().map(|(n, v)| len(n) + len(v) + 4).sum();
        let body = match &self.post {
            None => 0,
            Some(PostBody::Raw(b)) => len(b),
            Some(PostBody::Form(items)) => multipart_len(items, BOUNDARY_LEN),
        };
        len(&self.url) + headers + self.verb.as_deref().map_or(0, len) + body
    }
}

/// Parse a script's URI the way libcurl does for TPT: a URI without a scheme is taken as
/// `http://`; whitespace or control bytes, a non-UTF-8 URI or an empty host are malformed (606);
/// a scheme other than http(s) is unsupported (601), and so is http when `enforce_https`.
///
/// # Errors
/// A [`Failure`] of kind `MalformedUrl` or `UnsupportedProtocol`.
pub fn parse_url(raw: &[u8], enforce_https: bool) -> Result<Url, Failure> {
    let malformed = |why: &str| Failure::new(FailureKind::MalformedUrl, format!("malformed url: {why}"));
    let text = std::str::from_utf8(raw).map_err(|_| malformed("not valid utf-8"))?;
    if text.is_empty() {
        return Err(malformed("empty"));
    }
    if text.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err(malformed("contains whitespace or a control character"));
    }
    // As libcurl guesses: a URL names its scheme only as `scheme://`; anything else
    // (`localhost:8080/x`, `example.com/x`) is `http://` (`localhost:` is a host and a port).
    let has_scheme = text.find("://").is_some_and(|at| {
        at > 0
            && text[..at]
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
    });
    let url = if has_scheme {
        Url::parse(text).map_err(|e| malformed(&e.to_string()))?
    } else {
        Url::parse(&format!("http://{text}")).map_err(|e| malformed(&e.to_string()))?
    };
    check_scheme(&url, enforce_https)?;
    if url.host_str().is_none_or(str::is_empty) {
        return Err(malformed("no host"));
    }
    Ok(url)
}

/// Check that `url` may be fetched: http or https, and https only when `enforce_https`.
///
/// # Errors
/// A [`Failure`] of kind `UnsupportedProtocol`.
pub fn check_scheme(url: &Url, enforce_https: bool) -> Result<(), Failure> {
    match url.scheme() {
        "https" => Ok(()),
        "http" if !enforce_https => Ok(()),
        "http" => Err(Failure::new(
            FailureKind::UnsupportedProtocol,
            "only https is allowed by this host",
        )),
        other => Err(Failure::new(
            FailureKind::UnsupportedProtocol,
            format!("unsupported protocol \"{other}\""),
        )),
    }
}

/// Is `name` an HTTP token (the characters a header name may hold)?
pub fn is_token(name: &[u8]) -> bool {
    !name.is_empty()
        && name
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Does this header line (a name or a value) contain bytes that would split it into several
/// lines on the wire?
pub fn has_line_break(bytes: &[u8]) -> bool {
    bytes.iter().any(|&b| b == b'\r' || b == b'\n' || b == 0)
}

/// A caller header as it goes on the wire. TPT hands libcurl the line `name + ": " + value`,
/// and libcurl reads a CURLOPT_HTTPHEADER line as a name up to its first `:` and a value after
/// it (sent trimmed): so `{"A:B", "c"}` is the header `A` with value `B: c`. Every rule that
/// treats a header specially (replacing defaults, framing, credentials) judges this, never the
/// caller's spelling.
///
/// # Example
/// ```
/// use tpt_http::spec::wire_header;
/// assert_eq!(wire_header(b"Authorization: Bearer x", b""), (b"Authorization".to_vec(), b"Bearer x: ".to_vec()));
/// assert_eq!(wire_header(b"Authorization:Bearer", b"x"), (b"Authorization".to_vec(), b"Bearer: x".to_vec()));
/// ```
pub fn wire_header(name: &[u8], value: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let mut line = Vec::with_capacity(name.len() + 2 + value.len());
    line.extend_from_slice(name);
    line.extend_from_slice(b": ");
    line.extend_from_slice(value);
    let colon = line.iter().position(|&b| b == b':').unwrap_or(line.len());
    let n = line[..colon].to_vec();
    let rest = &line[(colon + 1).min(line.len())..];
    // libcurl sends the line as it is: the value keeps its bytes after the `: ` (trailing blanks
    // included); only whether anything but blanks follows the colon is judged.
    let v = if trim(rest).is_empty() {
        Vec::new()
    } else {
        rest.strip_prefix(b" ").unwrap_or(rest).to_vec()
    };
    (n, v)
}

/// Headers that carry credentials: on a redirect to another origin, a caller header that goes
/// on the wire under one of these names is not sent (libcurl drops `Authorization` and `Cookie`;
/// `X-Auth-Session-Key` is TPT's session secret).
pub const CREDENTIAL_HEADERS: [&str; 3] = ["Authorization", "Cookie", "X-Auth-Session-Key"];

/// The caller headers that may follow a redirect to another origin: every one whose line on
/// the wire ([`wire_header`]) is not a [`CREDENTIAL_HEADERS`] header, however the caller split
/// it between name and value.
///
/// # Example
/// ```
/// use tpt_http::spec::cross_origin_headers;
/// let caller = vec![
///     (b"Authorization: Bearer x".to_vec(), b"".to_vec()),
///     (b"cookie:a".to_vec(), b"b".to_vec()),
///     (b"X-Other".to_vec(), b"1".to_vec()),
/// ];
/// assert_eq!(cross_origin_headers(&caller), vec![(b"X-Other".to_vec(), b"1".to_vec())]);
/// ```
pub fn cross_origin_headers(caller: &[(Vec<u8>, Vec<u8>)]) -> HeaderList {
    caller
        .iter()
        .filter(|(name, value)| {
            let (wire, _) = wire_header(name, value);
            !CREDENTIAL_HEADERS
                .iter()
                .any(|c| wire.eq_ignore_ascii_case(c.as_bytes()))
        })
        .cloned()
        .collect()
}

/// Merge caller headers into the client's defaults, following libcurl's CURLOPT_HTTPHEADER rules
/// as TPT uses them: each caller header is the line `name: value`, split at its first `:`; a
/// caller header named like a default replaces it, and one whose value is empty (or blank)
/// removes it; other empty ones are not sent. `Content-Length` and `Transfer-Encoding` stay the
/// client's own.
///
/// The order is libcurl's: `Host` first (the caller's, if it replaces it), then the other
/// defaults not replaced, then the caller's headers in the caller's order (replacements
/// included, duplicates kept), then the body's `Content-Length`, `Content-Type` and `Expect`
/// defaults (libcurl adds these after the custom headers).
pub fn merge_headers(defaults: &[(&str, Vec<u8>)], caller: &[(Vec<u8>, Vec<u8>)]) -> Vec<(Vec<u8>, Vec<u8>)> {
    let trailing = |name: &str| {
        ["content-length", "content-type", "expect"]
            .iter()
            .any(|t| name.eq_ignore_ascii_case(t))
    };
    let mut replaced = vec![false; defaults.len()];
    let mut removed = vec![false; defaults.len()];
    let mut host: Option<(Vec<u8>, Vec<u8>)> = None;
    let mut given = Vec::new();
    for (name, value) in caller {
        let (n, v) = wire_header(name, value);
        if n.eq_ignore_ascii_case(b"content-length") || n.eq_ignore_ascii_case(b"transfer-encoding") {
            continue;
        }
        if let Some(i) = defaults
            .iter()
            .position(|(dn, _)| dn.as_bytes().eq_ignore_ascii_case(&n))
        {
            if v.is_empty() {
                removed[i] = true;
                continue;
            }
            let first = !replaced[i];
            replaced[i] = true;
            if first && defaults[i].0.eq_ignore_ascii_case("host") {
                host = Some((n, v));
                continue;
            }
            given.push((n, v));
            continue;
        }
        if !v.is_empty() {
            given.push((n, v));
        }
    }
    let kept = |i: usize| !removed[i] && !replaced[i];
    let mut merged = Vec::with_capacity(defaults.len() + given.len());
    for (i, (name, value)) in defaults.iter().enumerate() {
        if name.eq_ignore_ascii_case("host") {
            if removed[i] {
                continue;
            }
            merged.push(
                host.take()
                    .unwrap_or_else(|| (name.as_bytes().to_vec(), value.clone())),
            );
        }
    }
    for (i, (name, value)) in defaults.iter().enumerate() {
        if !name.eq_ignore_ascii_case("host") && !trailing(name) && kept(i) {
            merged.push((name.as_bytes().to_vec(), value.clone()));
        }
    }
    merged.extend(given);
    for (i, (name, value)) in defaults.iter().enumerate() {
        if trailing(name) && kept(i) {
            merged.push((name.as_bytes().to_vec(), value.clone()));
        }
    }
    merged
}

/// Trim spaces and tabs from both ends, as TPT does for response header values.
pub fn trim(bytes: &[u8]) -> &[u8] {
    let is_blank = |b: &u8| *b == b' ' || *b == b'\t';
    let start = bytes.iter().position(|b| !is_blank(b)).unwrap_or(bytes.len());
    let end = bytes.iter().rposition(|b| !is_blank(b)).map_or(start, |e| e + 1);
    &bytes[start..end]
}

/// The Content-Type libcurl guesses for a file part from its name's extension.
pub fn guess_content_type(filename: &[u8]) -> Option<&'static str> {
    let lower = filename.to_ascii_lowercase();
    let ext = lower
        .rsplit(|&b| b == b'.')
        .next()
        .filter(|_| lower.contains(&b'.'));
    Some(match ext {
        Some(b"gif") => "image/gif",
        Some(b"jpg") | Some(b"jpeg") => "image/jpeg",
        Some(b"png") => "image/png",
        Some(b"svg") => "image/svg+xml",
        Some(b"txt") => "text/plain",
        Some(b"htm") | Some(b"html") => "text/html",
        Some(b"pdf") => "application/pdf",
        Some(b"xml") => "application/xml",
        // libcurl gives a data part (TPT's form items) no type for other names.
        _ => return None,
    })
}

/// The length of a [`new_boundary`].
const BOUNDARY_LEN: usize = 46;

/// A fresh multipart boundary in libcurl's shape: 24 dashes then 22 random alphanumerics.
pub fn new_boundary() -> String {
    use std::hash::{BuildHasher, Hasher};
    const ALNUM: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mut out = "-".repeat(24);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    let mut state = 0u64;
    for i in 0..22 {
        if i % 8 == 0 {
            h.write_u64(i);
            state = h.finish();
        }
        out.push(ALNUM[(state % ALNUM.len() as u64) as usize] as char);
        state /= ALNUM.len() as u64;
    }
    out
}

/// Percent-escape the bytes of a form field name or file name that would break its quoted
/// string (`"`, CR, LF), as libcurl does.
fn escape_quoted(out: &mut Vec<u8>, s: &[u8]) {
    for &b in s {
        match b {
            b'"' => out.extend_from_slice(b"%22"),
            b'\r' => out.extend_from_slice(b"%0D"),
            b'\n' => out.extend_from_slice(b"%0A"),
            _ => out.push(b),
        }
    }
}

/// The length of [`encode_multipart`]'s output for `items` and a boundary of `boundary` bytes,
/// without encoding (so a form too large for the policy is refused before it is copied).
fn multipart_len(items: &[FormItem], boundary: usize) -> u64 {
    let len = |b: &[u8]| b.len() as u64;
    let quoted =
        |b: &[u8]| len(b) + 2 * b.iter().filter(|&&c| matches!(c, b'"' | b'\r' | b'\n')).count() as u64;
    let boundary = boundary as u64;
    let parts: u64 = items
        .iter()
        .map(|item| {
            let mut n =
                2 + boundary + len(b"\r\nContent-Disposition: form-data; name=\"") + quoted(&item.name) + 1;
            if let Some(filename) = &item.filename {
                n += len(b"; filename=\"") + quoted(filename) + 1;
            }
            n += 2;
            let content_type = match (&item.content_type, &item.filename) {
                (Some(t), _) => Some(t.iter().filter(|&&b| b != b'\r' && b != b'\n').count() as u64),
                (None, Some(f)) => guess_content_type(f).map(|t| len(t.as_bytes())),
                (None, None) => None,
            };
            if let Some(t) = content_type {
                n += len(b"Content-Type: ") + t + 2;
            }
            n + 2 + len(&item.value) + 2
        })
        .sum();
    parts + 2 + boundary + 4
}

/// Encode `items` as a `multipart/form-data` body with `boundary`.
///
/// # Example
/// ```
/// use tpt_http::spec::{encode_multipart, FormItem};
/// let body = encode_multipart(
///     &[FormItem { name: b"a".to_vec(), value: b"1".to_vec(), filename: None, content_type: None }],
///     "XX",
/// );
/// assert_eq!(body, b"--XX\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--XX--\r\n");
/// ```
pub fn encode_multipart(items: &[FormItem], boundary: &str) -> Vec<u8> {
    let size: usize = items.iter().map(|i| i.value.len() + i.name.len() + 128).sum();
    let mut out = Vec::with_capacity(size + boundary.len() * (items.len() + 1));
    for item in items {
        out.extend_from_slice(b"--");
        out.extend_from_slice(boundary.as_bytes());
        out.extend_from_slice(b"\r\nContent-Disposition: form-data; name=\"");
        escape_quoted(&mut out, &item.name);
        out.push(b'"');
        if let Some(filename) = &item.filename {
            out.extend_from_slice(b"; filename=\"");
            escape_quoted(&mut out, filename);
            out.push(b'"');
        }
        out.extend_from_slice(b"\r\n");
        let content_type = match (&item.content_type, &item.filename) {
            (Some(t), _) => Some(t.as_slice()),
            (None, Some(f)) => guess_content_type(f).map(str::as_bytes),
            (None, None) => None,
        };
        if let Some(t) = content_type {
            out.extend_from_slice(b"Content-Type: ");
            out.extend(t.iter().copied().filter(|&b| b != b'\r' && b != b'\n'));
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&item.value);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"--");
    out.extend_from_slice(boundary.as_bytes());
    out.extend_from_slice(b"--\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens() {
        assert!(is_token(b"X-Custom_Name.1"));
        assert!(!is_token(b""));
        assert!(!is_token(b"bad name"));
        assert!(!is_token(b"colon:"));
        assert!(!is_token("é".as_bytes()));
    }

    fn code(raw: &str, https: bool) -> u16 {
        match parse_url(raw.as_bytes(), https) {
            Ok(_) => 0,
            Err(f) => f.code(),
        }
    }

    #[test]
    fn urls_classify_like_libcurl() {
        assert_eq!(code("https://example.com/x", true), 0);
        assert_eq!(code("HTTPS://example.com", true), 0);
        assert_eq!(code("http://example.com", true), 601);
        assert_eq!(code("http://example.com", false), 0);
        assert_eq!(code("example.com/x", true), 601, "no scheme means http");
        assert_eq!(code("example.com/x", false), 0);
        // A host and a port without a scheme: `localhost:` is no scheme (libcurl guesses http).
        assert_eq!(code("localhost:8080/data.json", false), 0);
        assert_eq!(
            code("localhost:8080/data.json", true),
            601,
            "no scheme means http"
        );
        let url = parse_url(b"localhost:8080/data.json", false).expect("a url");
        assert_eq!((url.scheme(), url.port()), ("http", Some(8080)));
        assert_eq!(code("ftp://example.com", false), 601);
        assert_eq!(code("file:///etc/passwd", false), 601);
        assert_eq!(code("", true), 606);
        assert_eq!(code("https://", true), 606);
        assert_eq!(code("https://exa mple.com", true), 606);
        assert_eq!(code("https://a.com/\n", true), 606);
        assert_eq!(code("https://[::1", true), 606);
        assert_eq!(parse_url(b"\xff\xfe", true).unwrap_err().code(), 606);
    }

    fn h(pairs: &[(&str, &str)]) -> Vec<(Vec<u8>, Vec<u8>)> {
        pairs
            .iter()
            .map(|(n, v)| (n.as_bytes().to_vec(), v.as_bytes().to_vec()))
            .collect()
    }

    #[test]
    fn caller_headers_replace_remove_and_append() {
        let defaults = [
            ("Host", b"h".to_vec()),
            ("User-Agent", b"ua".to_vec()),
            ("Accept", b"*/*".to_vec()),
        ];
        let merged = merge_headers(
            &defaults,
            &h(&[
                ("user-agent", "mine"),
                ("Accept", ""),
                ("X-A", "1"),
                ("X-A", "2"),
                ("X-Empty", ""),
                ("Content-Length", "5"),
            ]),
        );
        assert_eq!(
            merged,
            h(&[("Host", "h"), ("user-agent", "mine"), ("X-A", "1"), ("X-A", "2")])
        );
        // libcurl's order: Host, the defaults left, the caller's in order, then the body's.
        let defaults = [
            ("Host", b"h".to_vec()),
            ("User-Agent", b"ua".to_vec()),
            ("Accept", b"*/*".to_vec()),
            ("Content-Length", b"3".to_vec()),
            ("Content-Type", b"t".to_vec()),
        ];
        let merged = merge_headers(
            &defaults,
            &h(&[
                ("X-First", "1"),
                ("Accept", "text/plain"),
                ("host", "other"),
                ("Host", "again"),
            ]),
        );
        assert_eq!(
            merged,
            h(&[
                ("host", "other"),
                ("User-Agent", "ua"),
                ("X-First", "1"),
                ("Accept", "text/plain"),
                ("Host", "again"),
                ("Content-Length", "3"),
                ("Content-Type", "t"),
            ])
        );
    }

    #[test]
    fn header_line_splits_at_first_colon() {
        let merged = merge_headers(&[], &h(&[("A:B", " c ")]));
        assert_eq!(merged, h(&[("A", "B:  c ")]));
        // The line goes out as libcurl sends it: trailing blanks kept.
        let merged = merge_headers(&[], &h(&[("X-A: 1", ""), ("X", "v \t")]));
        assert_eq!(merged, h(&[("X-A", "1: "), ("X", "v \t")]));
    }

    #[test]
    fn trim_only_spaces_and_tabs() {
        assert_eq!(trim(b" \t a b\t "), b"a b");
        assert_eq!(trim(b"   "), b"");
        assert_eq!(trim(b"\x0bx"), b"\x0bx");
    }

    #[test]
    fn multipart_parts_with_filenames_and_types() {
        let items = vec![
            FormItem {
                name: b"plain".to_vec(),
                value: b"v".to_vec(),
                filename: None,
                content_type: None,
            },
            FormItem {
                name: b"f".to_vec(),
                value: b"\0\xff".to_vec(),
                filename: Some(b"a.PNG".to_vec()),
                content_type: None,
            },
            FormItem {
                name: b"g".to_vec(),
                value: b"x".to_vec(),
                filename: Some(b"data".to_vec()),
                content_type: None,
            },
            FormItem {
                name: b"q\"".to_vec(),
                value: b"y".to_vec(),
                filename: None,
                content_type: Some(b"text/x".to_vec()),
            },
        ];
        let body = encode_multipart(&items, "B");
        let expected: &[u8] = b"--B\r\nContent-Disposition: form-data; name=\"plain\"\r\n\r\nv\r\n\
--B\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a.PNG\"\r\nContent-Type: image/png\r\n\r\n\0\xff\r\n\
--B\r\nContent-Disposition: form-data; name=\"g\"; filename=\"data\"\r\n\r\nx\r\n\
--B\r\nContent-Disposition: form-data; name=\"q%22\"\r\nContent-Type: text/x\r\n\r\ny\r\n--B--\r\n";
        assert_eq!(body, expected);
    }

    #[test]
    fn multipart_length_is_known_before_encoding() {
        let item = |name: &[u8], value: &[u8], filename: Option<&[u8]>, ct: Option<&[u8]>| FormItem {
            name: name.to_vec(),
            value: value.to_vec(),
            filename: filename.map(<[u8]>::to_vec),
            content_type: ct.map(<[u8]>::to_vec),
        };
        let forms = [
            vec![],
            vec![item(b"a", b"1", None, None)],
            vec![
                item(b"q\"\r\n", b"\0\xff", Some(b"x\".PNG"), None),
                item(b"f", b"", Some(b"data"), Some(b"text/x\r\ny")),
                item(b"", b"vvvv", None, Some(b"a/b")),
            ],
        ];
        for items in forms {
            let boundary = new_boundary();
            assert_eq!(
                multipart_len(&items, boundary.len()),
                encode_multipart(&items, &boundary).len() as u64,
                "{items:?}"
            );
        }
    }

    #[test]
    fn request_size_counts_url_headers_verb_and_body() {
        let mut spec = RequestSpec::get("http://a.test/");
        assert_eq!(spec.request_size(), 14);
        spec.headers = h(&[("Authorization: x", ""), ("A", "bc")]);
        spec.verb = Some(b"PUT".to_vec());
        spec.post = Some(PostBody::Form(vec![FormItem {
            name: b"n".to_vec(),
            value: vec![7; 1000],
            filename: None,
            content_type: None,
        }]));
        let form = encode_multipart(
            match &spec.post {
                Some(PostBody::Form(items)) => items,
                _ => unreachable!(),
            },
            &new_boundary(),
        );
        assert_eq!(spec.request_size(), 14 + 20 + 7 + 3 + form.len() as u64);
    }

    #[test]
    fn credentials_are_judged_on_the_wire() {
        let caller = h(&[
            ("Authorization", "Bearer x"),
            ("Authorization: Bearer x", ""),
            ("Authorization:Bearer", "x"),
            ("AUTHORIZATION:", "Bearer x"),
            ("cookie: a=b", ""),
            ("Cookie:a", "b"),
            ("x-auth-session-key:k", ""),
            ("X-Auth-Session-Key", "k"),
            ("X-Authorization", "kept"),
            ("Accept: Authorization", "kept"),
            ("Authorization-Hint", "kept"),
        ]);
        let kept = cross_origin_headers(&caller);
        assert_eq!(
            kept,
            h(&[
                ("X-Authorization", "kept"),
                ("Accept: Authorization", "kept"),
                ("Authorization-Hint", "kept"),
            ])
        );
        // And nothing that is dropped would have gone out under another name.
        for (n, v) in caller.iter().filter(|x| !kept.contains(x)) {
            let (wire, _) = wire_header(n, v);
            assert!(
                CREDENTIAL_HEADERS
                    .iter()
                    .any(|c| wire.eq_ignore_ascii_case(c.as_bytes())),
                "{:?}",
                String::from_utf8_lossy(n)
            );
        }
    }

    #[test]
    fn boundaries_differ_and_have_curl_shape() {
        let (a, b) = (new_boundary(), new_boundary());
        assert_eq!(a.len(), BOUNDARY_LEN);
        assert!(a.starts_with(&"-".repeat(24)));
        assert!(a[24..].bytes().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, b);
    }

    #[test]
    fn content_type_guesses() {
        assert_eq!(guess_content_type(b"x.jpeg"), Some("image/jpeg"));
        assert_eq!(guess_content_type(b"x.txt"), Some("text/plain"));
        assert_eq!(guess_content_type(b"txt"), None);
        assert_eq!(guess_content_type(b"x.bin"), None);
    }
}
