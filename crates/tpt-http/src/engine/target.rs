//! The request target (path and query) as libcurl sends it, and redirect locations resolved as
//! libcurl resolves them (RFC 3986 with libcurl's own escaping, not a browser's rules). The
//! `url` crate still decides the scheme, the host and the port; this module decides the bytes
//! of the path and query that go on the request line.
//!
//! libcurl's ways, as the differential harness (crates/tpt-http-fidelity) shows them:
//! - a path keeps its bytes as given (`{`, `}`, `"`, `\`, `|`, `%2e`...), its dot segments
//!   removed; bytes from 0x80 up are sent as `%xx` in lower case; an empty path is `/`; a
//!   script's query goes out as given;
//! - a backslash is a path byte like any other (no authority starts at `/\`);
//! - a redirect's Location is resolved against the current URL: with a scheme it stands alone,
//!   `//` keeps the scheme, `/` keeps the authority, `?` keeps the path, `#` keeps the path
//!   (not the query), anything else replaces the path's last segment; spaces are escaped (`%20`
//!   in the path, `+` in the query), control bytes are refused, an empty query is dropped.

use crate::failure::FailureKind;

/// A URL taken apart as libcurl holds it (the fragment dropped).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct CurlUrl {
    /// The scheme, lower-cased.
    scheme: String,
    /// The authority as given (userinfo, host, port).
    authority: Vec<u8>,
    /// The path, dot segments removed, never empty.
    path: Vec<u8>,
    /// The query, without its `?`.
    query: Option<Vec<u8>>,
}

impl CurlUrl {
    /// Take apart a script's URL (already accepted by [`crate::spec::parse_url`]); one without a
    /// scheme is `http://`, as libcurl guesses.
    pub(crate) fn parse(raw: &[u8]) -> Option<CurlUrl> {
        let (scheme, rest) = match find(raw, b"://") {
            Some(at)
                if at > 0
                    && raw[..at]
                        .iter()
                        .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(b)) =>
            {
                (
                    String::from_utf8_lossy(&raw[..at]).to_ascii_lowercase(),
                    &raw[at + 3..],
                )
            }
            _ => ("http".to_string(), raw),
        };
        let end = rest
            .iter()
            .position(|b| matches!(b, b'/' | b'?' | b'#'))
            .unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        let (path, query) = split_path(tail);
        Some(CurlUrl {
            scheme,
            authority: authority.to_vec(),
            path: remove_dot_segments(path),
            // An empty query is no query (libcurl sends none).
            query: query.filter(|q| !q.is_empty()).map(<[u8]>::to_vec),
        })
    }

    /// The request target: the path, its bytes from 0x80 up escaped as libcurl escapes them,
    /// and the query as it is.
    pub(crate) fn target(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.path.len() + 8);
        escape_high(&mut out, &self.path);
        if let Some(q) = &self.query {
            out.push(b'?');
            out.extend_from_slice(q);
        }
        out
    }

    /// The whole URL as text, for the `url` crate to read the origin from.
    pub(crate) fn text(&self) -> String {
        let mut out = format!("{}://", self.scheme).into_bytes();
        out.extend_from_slice(&self.authority);
        out.extend(self.target());
        String::from_utf8_lossy(&out).into_owned()
    }

    /// Resolve a redirect's `location` (already trimmed, not empty) against this URL, as
    /// libcurl follows it. Refused as libcurl refuses it: control bytes or no host are a
    /// malformed URL (606), a scheme other than http or https is unsupported (601).
    pub(crate) fn resolve(&self, location: &[u8]) -> Result<CurlUrl, FailureKind> {
        if location.iter().any(|&b| b < 0x20 || b == 0x7f) {
            return Err(FailureKind::MalformedUrl);
        }
        let escaped = escape_location(location);
        let location = escaped.as_slice();
        let standalone = if has_scheme(location) {
            let colon = location.iter().position(|&b| b == b':').unwrap_or(0);
            let scheme = String::from_utf8_lossy(&location[..colon]).to_ascii_lowercase();
            if scheme != "http" && scheme != "https" {
                return Err(FailureKind::UnsupportedProtocol);
            }
            Some(location.to_vec())
        } else {
            location.strip_prefix(b"//").map(|rest| {
                let mut whole = format!("{}://", self.scheme).into_bytes();
                whole.extend_from_slice(rest);
                whole
            })
        };
        if let Some(whole) = standalone {
            return match CurlUrl::parse(&whole) {
                Some(url) if !url.authority.is_empty() && find(&whole, b"://").is_some() => Ok(url),
                _ => Err(FailureKind::MalformedUrl),
            };
        }
        let mut next = self.clone();
        let location = match location.iter().position(|&b| b == b'#') {
            Some(at) => &location[..at],
            None => location,
        };
        if location.is_empty() {
            // `#fragment` alone: libcurl keeps the path and drops the query.
            next.query = None;
            return Ok(next);
        }
        let (path, query) = split_path(location);
        next.query = query.filter(|q| !q.is_empty()).map(<[u8]>::to_vec);
        if path.is_empty() {
            // `?query`: the path stays.
            return Ok(next);
        }
        let merged = if path.starts_with(b"/") {
            path.to_vec()
        } else {
            let dir = self.path.iter().rposition(|&b| b == b'/').map_or(0, |i| i + 1);
            [&self.path[..dir], path].concat()
        };
        next.path = remove_dot_segments(&merged);
        Ok(next)
    }
}

/// Split `path?query#fragment` into the path and the query (the fragment dropped).
fn split_path(tail: &[u8]) -> (&[u8], Option<&[u8]>) {
    let tail = match tail.iter().position(|&b| b == b'#') {
        Some(at) => &tail[..at],
        None => tail,
    };
    match tail.iter().position(|&b| b == b'?') {
        Some(at) => (&tail[..at], Some(&tail[at + 1..])),
        None => (tail, None),
    }
}

/// Does `location` start with a scheme (`letter *( letter / digit / + / - / . ) :`)?
fn has_scheme(location: &[u8]) -> bool {
    let Some(colon) = location.iter().position(|&b| b == b':') else {
        return false;
    };
    let scheme = &location[..colon];
    scheme.first().is_some_and(u8::is_ascii_alphabetic)
        && scheme
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(b))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Append `bytes`, those from 0x80 up as `%xx` (lower-case hex, as libcurl writes them).
fn escape_high(out: &mut Vec<u8>, bytes: &[u8]) {
    for &b in bytes {
        if b >= 0x80 {
            out.extend_from_slice(format!("%{b:02x}").as_bytes());
        } else {
            out.push(b);
        }
    }
}

/// libcurl's escaping of a Location (CURLU_URLENCODE with spaces allowed): a space is `%20`
/// before the query and `+` in it; bytes from 0x80 up are `%xx`.
fn escape_location(location: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(location.len());
    let mut in_query = false;
    for &b in location {
        match b {
            b'?' => {
                in_query = true;
                out.push(b);
            }
            b' ' if in_query => out.push(b'+'),
            b' ' => out.extend_from_slice(b"%20"),
            _ => escape_high(&mut out, &[b]),
        }
    }
    out
}

/// RFC 3986 section 5.2.4; the result is never empty (`/` at least).
fn remove_dot_segments(path: &[u8]) -> Vec<u8> {
    let mut input = path;
    let mut out: Vec<u8> = Vec::with_capacity(path.len() + 1);
    while !input.is_empty() {
        if let Some(rest) = input.strip_prefix(b"../") {
            input = rest;
        } else if let Some(rest) = input.strip_prefix(b"./") {
            input = rest;
        } else if input.starts_with(b"/./") {
            input = &input[2..];
        } else if input == b"/." {
            input = b"/";
        } else if input.starts_with(b"/../") || input == b"/.." {
            input = if input.len() == 3 { b"/" } else { &input[3..] };
            let cut = out.iter().rposition(|&b| b == b'/').unwrap_or(0);
            out.truncate(cut);
        } else if input == b"." || input == b".." {
            input = b"";
        } else {
            let start = usize::from(input[0] == b'/');
            let end = input[start..]
                .iter()
                .position(|&b| b == b'/')
                .map_or(input.len(), |i| i + start);
            out.extend_from_slice(&input[..end]);
            input = &input[end..];
        }
    }
    if !out.starts_with(b"/") {
        out.insert(0, b'/');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> CurlUrl {
        CurlUrl::parse(b"http://127.0.0.1:5000/start/here?x=1").expect("parse")
    }

    fn resolved(location: &str) -> Option<String> {
        base().resolve(location.as_bytes()).ok().map(|u| u.text())
    }

    /// The answers of libcurl 8.10.1's URL API for the same inputs (curl_url_set with
    /// CURLU_URLENCODE | CURLU_ALLOW_SPACE on a handle holding the base, then curl_url_get).
    #[test]
    fn locations_resolve_as_libcurl_resolves_them() {
        let b = "http://127.0.0.1:5000";
        assert_eq!(resolved("/a b?c d#e f"), Some(format!("{b}/a%20b?c+d")));
        assert_eq!(resolved("a b"), Some(format!("{b}/start/a%20b")));
        assert_eq!(resolved("/é?é"), Some(format!("{b}/%c3%a9?%c3%a9")));
        assert_eq!(resolved("/{x}\"|^`<>\\"), Some(format!("{b}/{{x}}\"|^`<>\\")));
        assert_eq!(resolved("?q"), Some(format!("{b}/start/here?q")));
        assert_eq!(resolved("#f"), Some(format!("{b}/start/here")));
        assert_eq!(resolved("/?"), Some(format!("{b}/")));
        assert_eq!(resolved("//other:81/p"), Some("http://other:81/p".to_string()));
        assert_eq!(resolved("../../../x"), Some(format!("{b}/x")));
        assert_eq!(resolved("./a/./b/../c"), Some(format!("{b}/start/a/c")));
        assert_eq!(resolved("/a/%2e%2e/b"), Some(format!("{b}/a/%2e%2e/b")));
        assert_eq!(resolved("http://h/p/../q"), Some("http://h/q".to_string()));
        assert_eq!(resolved("/\\host:5/x"), Some(format!("{b}/\\host:5/x")));
        assert_eq!(resolved("/a?b?c"), Some(format!("{b}/a?b?c")));
        assert_eq!(resolved("/%41%e9"), Some(format!("{b}/%41%e9")));
        assert_eq!(resolved("/a\tb"), None);
        assert_eq!(resolved("//"), None);
        assert_eq!(base().resolve(b"x:y"), Err(FailureKind::UnsupportedProtocol));
        assert_eq!(base().resolve(b"mailto:a"), Err(FailureKind::UnsupportedProtocol));
    }

    #[test]
    fn targets_as_libcurl_sends_them() {
        let t = |u: &str| {
            String::from_utf8(CurlUrl::parse(u.as_bytes()).expect("parse").target()).expect("utf-8")
        };
        assert_eq!(t("http://127.0.0.1:5/é?é#x"), "/%c3%a9?é");
        assert_eq!(t("127.0.0.1:5/x"), "/x");
        assert_eq!(t("http://h/a/../b/./c"), "/b/c");
        assert_eq!(t("http://h"), "/");
        assert_eq!(t("http://h?q"), "/?q");
        assert_eq!(t("http://h/{x}\\"), "/{x}\\");
        assert_eq!(t("http://h/%7e"), "/%7e");
    }
}
