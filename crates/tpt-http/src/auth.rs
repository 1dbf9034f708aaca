//! `http.getAuthToken`: the request TPT sends to its auth server and how its answer is read.
//!
//! The rules are pure functions with no I/O: [`token_request`] builds the request (URL encoding
//! and the `X-Auth-*` header rules), [`finish_token`] turns the server's answer into what
//! `finish()` returns. The one exception is [`check_token`], a blocking call for Rust services
//! that check a token a script sent them.

use crate::spec::RequestSpec;
use std::fmt;

/// The logged-in user on whose behalf tokens are fetched.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthUser {
    /// The user id (`""` or `"-1"`: no auth headers are sent).
    pub user_id: String,
    /// The session key: a secret, sent only to the auth server, never printed.
    pub session_key: String,
}

impl fmt::Debug for AuthUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthUser")
            .field("user_id", &self.user_id)
            .field("session_key", &"<redacted>")
            .finish()
    }
}

/// Supplies the current user when a script calls `http.getAuthToken`; asked at every call, so
/// logging in and out while scripts run works.
pub trait IdentityProvider {
    /// The logged-in user, or `None` (the script then gets `nil, "not authenticated"`).
    fn current_user(&self) -> Option<AuthUser>;
}

/// TPT's URL encoding: `[A-Za-z0-9]` kept, every other byte written `%XX` (uppercase hex).
pub fn encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 3);
    for &b in bytes {
        if b.is_ascii_alphanumeric() {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Check an auth server's base URL (`Config::auth_server`, as a host or a script gives it) and
/// return it without trailing slashes: an explicit `http://` or `https://` URL with a host, and
/// no query or fragment (`/ExternalAuth.api?...` is appended to it).
///
/// # Errors
/// What is wrong with it, e.g. `"must be an http:// or https:// URL"`.
pub fn server_base(raw: &str) -> Result<String, String> {
    let lower = raw.to_ascii_lowercase();
    if !(lower.starts_with("http://") || lower.starts_with("https://")) {
        return Err("must be an http:// or https:// URL".into());
    }
    let url = crate::spec::parse_url(raw.as_bytes(), false)
        .map_err(|f| format!("is not a usable URL: {}", f.reason()))?;
    if url.query().is_some() || url.fragment().is_some() {
        return Err("must not have a query or fragment".into());
    }
    Ok(raw.trim_end_matches('/').to_string())
}

/// The request `http.getAuthToken(audience)` starts for `user` against `server`.
pub fn token_request(server: &str, audience: &[u8], user: &AuthUser) -> RequestSpec {
    let url = format!(
        "{server}/ExternalAuth.api?Action=Get&Audience={}",
        encode(audience)
    );
    let mut headers = Vec::new();
    if !user.user_id.is_empty() && user.user_id != "-1" {
        if user.session_key.is_empty() {
            headers.push((b"X-Auth-User".to_vec(), user.user_id.clone().into_bytes()));
        } else {
            headers.push((b"X-Auth-User-Id".to_vec(), user.user_id.clone().into_bytes()));
            headers.push((
                b"X-Auth-Session-Key".to_vec(),
                user.session_key.clone().into_bytes(),
            ));
        }
    }
    RequestSpec {
        url: url.into_bytes(),
        post: None,
        headers,
        verb: None,
        timeout: None,
        compressed: false,
    }
}

/// What `finish()` returns for a token request that ended with `status` and `body`:
/// non-200 passes through (body as received, empty on 6xx); on 200 the JSON answer gives
/// `Token, 200` for `Status == "OK"`, `<Status>, 403` otherwise, and `"", 600` when it cannot be
/// read.
pub fn finish_token(status: u16, body: &[u8]) -> (u16, Vec<u8>) {
    if status != 200 {
        return (status, body.to_vec());
    }
    let Ok(root) = serde_json::from_slice::<serde_json::Value>(body) else {
        return (600, Vec::new());
    };
    let Some(obj) = root.as_object() else {
        return (600, Vec::new());
    };
    let scalar = |key: &str| -> Result<String, ()> {
        match obj.get(key) {
            None | Some(serde_json::Value::Null) => Ok(String::new()),
            Some(serde_json::Value::String(s)) => Ok(s.clone()),
            Some(serde_json::Value::Bool(b)) => Ok(b.to_string()),
            Some(serde_json::Value::Number(n)) => Ok(n.to_string()),
            Some(_) => Err(()),
        }
    };
    let Ok(state) = scalar("Status") else {
        return (600, Vec::new());
    };
    if state == "OK" {
        match scalar("Token") {
            Ok(token) => (200, token.into_bytes()),
            Err(()) => (600, Vec::new()),
        }
    } else {
        (403, state.into_bytes())
    }
}

/// For Rust services: ask `server` whether `token` is valid and at most `max_age_secs` old
/// (`ExternalAuth.api?Action=Check`). Blocks the calling thread until the answer arrives.
///
/// # Errors
/// The request failed (a 6xx [`crate::Failure`]), or the server answered with a status other
/// than 200 or with unreadable JSON (kind `Internal`).
pub fn check_token(
    client: &crate::Client,
    server: &str,
    token: &str,
    max_age_secs: u64,
) -> Result<bool, crate::Failure> {
    use crate::failure::{Failure, FailureKind};
    let url = format!(
        "{server}/ExternalAuth.api?Action=Check&MaxAge={max_age_secs}&Token={}",
        encode(token.as_bytes())
    );
    let news = crate::News::new();
    let watcher = client.start(RequestSpec::get(url), Some(news.clone()));
    while !watcher.is_done() {
        news.wait(Some(std::time::Duration::from_millis(100)));
    }
    let outcome = watcher.take().unwrap_or_default();
    if let Some(f) = outcome.failure {
        return Err(f);
    }
    if outcome.status != 200 {
        return Err(Failure::new(
            FailureKind::Internal,
            format!("auth server answered {}", outcome.status),
        ));
    }
    let root: serde_json::Value = serde_json::from_slice(&outcome.body)
        .map_err(|_| Failure::new(FailureKind::Internal, "auth server answer is not json"))?;
    Ok(root.get("Status").and_then(|s| s.as_str()) == Some("OK"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_the_user_and_hides_the_key() {
        let user = AuthUser {
            user_id: "42".into(),
            session_key: "s3cret".into(),
        };
        let shown = format!("{user:?}");
        assert_eq!(shown, r#"AuthUser { user_id: "42", session_key: "<redacted>" }"#);
    }

    #[test]
    fn server_base_takes_http_and_https_urls_only() {
        assert_eq!(
            server_base("https://powdertoy.co.uk/").as_deref(),
            Ok("https://powdertoy.co.uk")
        );
        assert_eq!(
            server_base("HTTP://127.0.0.1:8080/tpt").as_deref(),
            Ok("HTTP://127.0.0.1:8080/tpt")
        );
        for bad in [
            "not a url",
            "powdertoy.co.uk",
            "ftp://x/",
            "https://",
            "https://a b/",
            "https://x/?a=1",
            "https://x/#f",
            "",
        ] {
            assert!(server_base(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn audience_encoding_keeps_only_alphanumerics() {
        assert_eq!(encode(b"aZ09"), "aZ09");
        assert_eq!(encode(b" /~._-"), "%20%2F%7E%2E%5F%2D");
        assert_eq!(encode("é".as_bytes()), "%C3%A9");
    }

    #[test]
    fn auth_headers_follow_tpt_rules() {
        let user = |id: &str, key: &str| AuthUser {
            user_id: id.into(),
            session_key: key.into(),
        };
        let names = |u: AuthUser| -> Vec<String> {
            token_request("https://s", b"a", &u)
                .headers
                .into_iter()
                .map(|(n, v)| format!("{}={}", String::from_utf8_lossy(&n), String::from_utf8_lossy(&v)))
                .collect()
        };
        assert_eq!(
            names(user("7", "k")),
            ["X-Auth-User-Id=7", "X-Auth-Session-Key=k"]
        );
        assert_eq!(names(user("7", "")), ["X-Auth-User=7"]);
        assert!(names(user("", "k")).is_empty());
        assert!(names(user("-1", "k")).is_empty());
        let spec = token_request("https://s", b"x y", &user("7", "k"));
        assert_eq!(spec.url, b"https://s/ExternalAuth.api?Action=Get&Audience=x%20y");
        assert!(!format!("{:?}", user("7", "secret")).contains("secret"));
    }

    #[test]
    fn token_answers() {
        let f = |status, body: &str| {
            let (s, b) = finish_token(status, body.as_bytes());
            (s, String::from_utf8(b).unwrap())
        };
        assert_eq!(f(200, r#"{"Status":"OK","Token":"t"}"#), (200, "t".into()));
        assert_eq!(f(200, r#"{"Status":"Banned"}"#), (403, "Banned".into()));
        assert_eq!(f(200, r#"{"Token":"t"}"#), (403, "".into()));
        assert_eq!(f(200, r#"{"Status":"OK"}"#), (200, "".into()));
        assert_eq!(f(200, "nope"), (600, "".into()));
        assert_eq!(f(200, "[1]"), (600, "".into()));
        assert_eq!(f(200, r#"{"Status":{}}"#), (600, "".into()));
        assert_eq!(f(404, "gone"), (404, "gone".into()));
        assert_eq!(f(607, ""), (607, "".into()));
    }
}
