//! The request handler of [`Server`](crate::Server); the routes are
//! documented there.

use std::str::FromStr;
use std::time::Duration;

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::AtomicUsize;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::{self, HeaderName, HeaderValue};
use hyper::http::request::Parts;
use hyper::{Request, Response, StatusCode, Version};

use crate::body::{PatternBody, ResponseBody, full, full_unsized};

/// Piece size of `/bytes/N`.
const BYTES_PIECE: usize = 64 * 1024;
/// Largest piece of `/chunked/N`.
const CHUNKED_PIECE: usize = 16 * 1024;

/// State shared between a [`Server`](crate::Server) handle and its connections.
pub(crate) struct Shared {
    pub(crate) connections: AtomicUsize,
    pub(crate) files: Mutex<HashMap<String, Vec<u8>>>,
    pub(crate) users: Mutex<crate::auth::Users>,
}

impl Default for Shared {
    fn default() -> Shared {
        Shared {
            connections: AtomicUsize::new(0),
            files: Mutex::new(HashMap::new()),
            users: Mutex::new(crate::auth::Users::new()),
        }
    }
}

impl Shared {
    /// A copy of the file added under `name`, if any.
    pub(crate) fn file(&self, name: &str) -> Option<Vec<u8>> {
        let files = self.files.lock().unwrap_or_else(|poison| poison.into_inner());
        files.get(name).cloned()
    }
}

/// Answers one request.
pub(crate) async fn handle(request: Request<Incoming>, shared: &Shared) -> Response<ResponseBody> {
    let (parts, body) = request.into_parts();
    let body = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => return text(StatusCode::BAD_REQUEST, "bad request body"),
    };
    let path = parts.uri.path().to_owned();
    let query = parse_query(parts.uri.query().unwrap_or(""));
    let result = if path.ends_with("/ExternalAuth.api") {
        external_auth(&parts, &body, &path, &query, shared)
    } else if path == "/echo" {
        Ok(echo(&parts, &body))
    } else if let Some(n) = path.strip_prefix("/bytes/") {
        parse::<u64>(n).map(|n| pattern(n, BYTES_PIECE, Duration::ZERO, true))
    } else if let Some(n) = path.strip_prefix("/chunked/") {
        parse::<u64>(n).map(|n| pattern(n, CHUNKED_PIECE, Duration::ZERO, false))
    } else if let Some(n) = path.strip_prefix("/slow/") {
        slow(n, &query)
    } else if let Some(code) = path.strip_prefix("/status/") {
        status_code(code).map(|status| text(status, format!("status {}", status.as_u16())))
    } else if let Some(n) = path.strip_prefix("/redirect/") {
        redirect(n, parts.uri.query(), &query)
    } else if path == "/redirect-to" {
        redirect_to(&query)
    } else if let Some(code) = path.strip_prefix("/no-location/") {
        status_code(code).map(|status| text(status, "no location"))
    } else if path == "/headers" {
        headers(&query)
    } else if path == "/hang" {
        return std::future::pending().await;
    } else if let Some(name) = path.strip_prefix("/files/") {
        Ok(file(shared, name))
    } else if path == "/abort-mid-body" {
        abort_mid_body(&query)
    } else if let Some(n) = path.strip_prefix("/gzip/") {
        parse::<usize>(n).map(|n| compressed(n, "gzip"))
    } else if let Some(n) = path.strip_prefix("/deflate/") {
        parse::<usize>(n).map(|n| compressed(n, "deflate"))
    } else if path == "/gzip-broken" {
        let mut r = text(
            StatusCode::OK,
            &b"\x1f\x8b\x08\x00garbage that is not deflate"[..],
        );
        r.headers_mut()
            .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        Ok(r)
    } else if path == "/cookie" {
        Ok(cookie(&parts))
    } else {
        Ok(not_found())
    };
    result.unwrap_or_else(|message| text(StatusCode::BAD_REQUEST, message))
}

/// The reference auth server and its mock answers (see the `auth` module).
fn external_auth(
    parts: &Parts,
    body: &Bytes,
    path: &str,
    query: &[(Vec<u8>, Vec<u8>)],
    shared: &Shared,
) -> RouteResult {
    let prefix = path.trim_end_matches("/ExternalAuth.api");
    if let Some(mock) = prefix.strip_prefix("/mock/") {
        let (kind, arg) = mock.split_once('/').unwrap_or((mock, ""));
        return match kind {
            "json" => {
                let mut r = text(StatusCode::OK, percent_decode(arg));
                r.headers_mut()
                    .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
                Ok(r)
            }
            "status" => status_code(arg).map(|s| text(s, format!("status {}", s.as_u16()))),
            "echo-status" => {
                let status = status_code(arg)?;
                let mut r = echo(parts, body);
                *r.status_mut() = status;
                Ok(r)
            }
            "redirect-port" => {
                let port: u16 = parse(arg)?;
                let location = HeaderValue::try_from(format!(
                    "https://127.0.0.1:{port}/mock/echo-status/202/ExternalAuth.api"
                ))
                .map_err(|_| "bad port")?;
                Ok(with_location(StatusCode::FOUND, location))
            }
            _ => Ok(not_found()),
        };
    }
    if !prefix.is_empty() {
        return Ok(not_found());
    }
    let value = |name: &str| query_value(query, name).map(|v| String::from_utf8_lossy(v).into_owned());
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
    let users = shared.users.lock().unwrap_or_else(|poison| poison.into_inner());
    let answer = match value("Action").as_deref() {
        Some("Get") => users.get(
            &value("Audience").unwrap_or_default(),
            header("x-auth-user-id"),
            header("x-auth-session-key"),
        ),
        Some("Check") => {
            let max_age = query_num::<u64>(query, "MaxAge")?.unwrap_or(u64::MAX);
            users.check(&value("Token").unwrap_or_default(), max_age)
        }
        _ => return Err("unknown Action"),
    };
    let mut r = text(StatusCode::OK, answer);
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(r)
}

/// `N` pattern bytes compressed with `encoding` (`gzip` or `deflate`, zlib-wrapped), sent with
/// `Content-Encoding` whatever the request asked for.
fn compressed(n: usize, encoding: &'static str) -> Response<ResponseBody> {
    use std::io::Write;
    let plain: Vec<u8> = (0..n as u64).map(crate::body::pattern_byte).collect();
    let level = flate2::Compression::default();
    let packed = if encoding == "gzip" {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), level);
        let _ = e.write_all(&plain);
        e.finish().unwrap_or_default()
    } else {
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), level);
        let _ = e.write_all(&plain);
        e.finish().unwrap_or_default()
    };
    let mut r = text(StatusCode::OK, packed);
    r.headers_mut()
        .insert(header::CONTENT_ENCODING, HeaderValue::from_static(encoding));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    r
}

/// Result of a route: a response, or the message of a 400 answer.
type RouteResult = Result<Response<ResponseBody>, &'static str>;

fn echo(parts: &Parts, body: &Bytes) -> Response<ResponseBody> {
    let mut out = Vec::with_capacity(256 + body.len());
    out.extend_from_slice(format!("method {}\n", parts.method).as_bytes());
    let path = parts
        .uri
        .path_and_query()
        .map_or_else(|| parts.uri.path(), |pq| pq.as_str());
    out.extend_from_slice(format!("path {path}\n").as_bytes());
    out.extend_from_slice(format!("version {:?}\n", parts.version).as_bytes());
    if parts.version == Version::HTTP_2
        && !parts.headers.contains_key(header::HOST)
        && let Some(authority) = parts.uri.authority()
    {
        out.extend_from_slice(format!("header host: {authority}\n").as_bytes());
    }
    for (name, value) in &parts.headers {
        out.extend_from_slice(b"header ");
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.push(b'\n');
    }
    out.extend_from_slice(format!("body-length {}\n\n", body.len()).as_bytes());
    out.extend_from_slice(body);
    text(StatusCode::OK, out)
}

fn pattern(total: u64, piece: usize, pause: Duration, with_length: bool) -> Response<ResponseBody> {
    let mut response = Response::new(PatternBody::new(total, piece, pause, with_length).boxed_unsync());
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    if with_length {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(total));
    }
    response
}

fn slow(n: &str, query: &[(Vec<u8>, Vec<u8>)]) -> RouteResult {
    let total = parse::<u64>(n)?;
    let ms = query_num::<u64>(query, "ms")?.unwrap_or(50);
    let piece = query_num::<usize>(query, "chunk")?.unwrap_or(1024);
    let with_length = query_value(query, "nolength") != Some(b"1".as_slice());
    Ok(pattern(total, piece, Duration::from_millis(ms), with_length))
}

fn redirect(n: &str, raw_query: Option<&str>, query: &[(Vec<u8>, Vec<u8>)]) -> RouteResult {
    let hops = parse::<u64>(n)?;
    let status = match query_value(query, "code") {
        Some(code) => status_code(&String::from_utf8_lossy(code))?,
        None => StatusCode::FOUND,
    };
    let mut location = match hops.checked_sub(1) {
        Some(next) => format!("/redirect/{next}"),
        None => "/echo".to_owned(),
    };
    if let Some(raw_query) = raw_query.filter(|q| !q.is_empty()) {
        location.push('?');
        location.push_str(raw_query);
    }
    let location = HeaderValue::from_str(&location).map_err(|_| "bad query")?;
    Ok(with_location(status, location))
}

fn redirect_to(query: &[(Vec<u8>, Vec<u8>)]) -> RouteResult {
    let url = query_value(query, "url").ok_or("missing url")?;
    let location = HeaderValue::from_bytes(url).map_err(|_| "bad url")?;
    let status = match query_value(query, "code") {
        Some(code) => status_code(&String::from_utf8_lossy(code))?,
        None => StatusCode::FOUND,
    };
    Ok(with_location(status, location))
}

fn with_location(status: StatusCode, location: HeaderValue) -> Response<ResponseBody> {
    let mut response = Response::new(full(Bytes::new()));
    *response.status_mut() = status;
    response.headers_mut().insert(header::LOCATION, location);
    response
}

fn headers(query: &[(Vec<u8>, Vec<u8>)]) -> RouteResult {
    let mut response = text(StatusCode::OK, "ok");
    let mut sets_framing = false;
    for (name, value) in query {
        let name = HeaderName::from_bytes(name).map_err(|_| "bad header name")?;
        let value = HeaderValue::from_bytes(value).map_err(|_| "bad header value")?;
        sets_framing |= name == header::CONTENT_LENGTH || name == header::TRANSFER_ENCODING;
        response.headers_mut().append(name, value);
    }
    if sets_framing {
        // Let hyper frame the body by the caller's headers instead of the
        // known length of "ok".
        let (parts, _) = response.into_parts();
        response = Response::from_parts(parts, full_unsized("ok"));
    }
    Ok(response)
}

fn file(shared: &Shared, name: &str) -> Response<ResponseBody> {
    let name = String::from_utf8_lossy(&percent_decode(name)).into_owned();
    let Some(contents) = shared.file(&name) else {
        return not_found();
    };
    let mut response = Response::new(full(contents));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(&name)),
    );
    response
}

/// A content type guessed from the file name's extension.
fn content_type(name: &str) -> &'static str {
    let extension = name.rsplit_once('.').map_or("", |(_, ext)| ext);
    match extension.to_ascii_lowercase().as_str() {
        "txt" | "lua" | "md" => "text/plain",
        "html" | "htm" => "text/html",
        "json" => "application/json",
        "png" => "image/png",
        _ => "application/octet-stream",
    }
}

fn abort_mid_body(query: &[(Vec<u8>, Vec<u8>)]) -> RouteResult {
    let n = query_num::<u64>(query, "n")?.unwrap_or(1024);
    let declared = n.checked_mul(2).ok_or("n too large")?;
    let body = PatternBody::new(n, BYTES_PIECE, Duration::ZERO, false).fail_at_end();
    let mut response = Response::new(body.boxed_unsync());
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(declared));
    Ok(response)
}

fn cookie(parts: &Parts) -> Response<ResponseBody> {
    let cookies: Vec<&[u8]> = parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .map(HeaderValue::as_bytes)
        .collect();
    let mut response = text(StatusCode::OK, cookies.join(b"; ".as_slice()));
    response
        .headers_mut()
        .insert(header::SET_COOKIE, HeaderValue::from_static("a=b"));
    response
}

fn not_found() -> Response<ResponseBody> {
    text(StatusCode::NOT_FOUND, "not found")
}

/// A `text/plain` response.
fn text(status: StatusCode, body: impl Into<Bytes>) -> Response<ResponseBody> {
    let mut response = Response::new(full(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    response
}

fn parse<T: FromStr>(text: &str) -> Result<T, &'static str> {
    text.parse().map_err(|_| "bad number")
}

fn status_code(text: &str) -> Result<StatusCode, &'static str> {
    StatusCode::from_u16(parse(text)?).map_err(|_| "bad status code")
}

/// Splits a query string into percent-decoded `(name, value)` pairs, in order.
fn parse_query(query: &str) -> Vec<(Vec<u8>, Vec<u8>)> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(name), percent_decode(value))
        })
        .collect()
}

/// The first value of query parameter `name`.
fn query_value<'q>(query: &'q [(Vec<u8>, Vec<u8>)], name: &str) -> Option<&'q [u8]> {
    query
        .iter()
        .find(|(key, _)| key == name.as_bytes())
        .map(|(_, value)| value.as_slice())
}

/// Query parameter `name` as a number; `Ok(None)` when absent.
fn query_num<T: FromStr>(query: &[(Vec<u8>, Vec<u8>)], name: &str) -> Result<Option<T>, &'static str> {
    query_value(query, name)
        .map(|value| parse(&String::from_utf8_lossy(value)))
        .transpose()
}

/// Decodes `%XX` escapes; anything else (including `+` and malformed
/// escapes) is kept as is.
fn percent_decode(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .filter(|h| h.iter().all(u8::is_ascii_hexdigit))
                .and_then(|h| u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok());
            if let Some(byte) = hex {
                out.push(byte);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%20b%zz%+1%4"), b"a b%zz%+1%4".to_vec());
        assert_eq!(percent_decode("%00%ff+"), vec![0, 255, b'+']);
        assert_eq!(
            parse_query("x=%20y%20&&z&x=2"),
            vec![
                (b"x".to_vec(), b" y ".to_vec()),
                (b"z".to_vec(), Vec::new()),
                (b"x".to_vec(), b"2".to_vec()),
            ]
        );
    }
}
