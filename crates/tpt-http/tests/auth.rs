//! `http.getAuthToken` end to end against the reference auth server (`tpt-http-testserver`) on
//! loopback: every `finish()` outcome of spec section 1, the request's URL and headers, and the
//! session key's secrecy.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tpt_http::mlua::{Lua, Table};
use tpt_http::{AuthUser, Config, IdentityProvider};
use tpt_http_testserver::{Server, TestCa, closed_port};

const KEY: &str = "s3cret-session";

struct Fixed(Option<AuthUser>);

impl IdentityProvider for Fixed {
    fn current_user(&self) -> Option<AuthUser> {
        self.0.clone()
    }
}

fn user(id: &str, key: &str) -> Option<AuthUser> {
    Some(AuthUser {
        user_id: id.into(),
        session_key: key.into(),
    })
}

struct World {
    ca: TestCa,
    https: Server,
    other: Server,
}

fn world() -> World {
    let ca = TestCa::new();
    let https = Server::https(&ca);
    https.add_user("42", KEY, "alice");
    let other = Server::https(&ca);
    World { ca, https, other }
}

impl World {
    fn config(&self, server: String) -> Config {
        Config {
            extra_ca_pem: Some(self.ca.cert_pem().into_bytes()),
            auth_server: server,
            ..Config::default()
        }
    }
}

/// Run `http.getAuthToken(audience)` to the end; returns finish()'s body, code and header count.
fn token(config: Config, who: Option<AuthUser>, audience: &[u8]) -> (String, i64, usize) {
    let lua = Lua::new();
    let http = tpt_http::install(&lua, config).expect("install");
    http.set_identity(Some(Arc::new(Fixed(who))));
    lua.globals()
        .set("audience", lua.create_string(audience).unwrap())
        .unwrap();
    lua.load("req = http.getAuthToken(audience)")
        .exec()
        .expect("getAuthToken");
    let deadline = Instant::now() + Duration::from_secs(20);
    while lua.load("return req:status()").eval::<String>().unwrap() == "running" {
        assert!(Instant::now() < deadline, "token request still running");
        http.news().wait(Some(Duration::from_millis(50)));
    }
    let (body, code, headers): (tpt_http::mlua::LuaString, i64, Table) =
        lua.load("return req:finish()").eval().expect("finish");
    (
        String::from_utf8_lossy(&body.as_bytes()).into_owned(),
        code,
        headers.raw_len(),
    )
}

fn mock(w: &World, what: &str) -> String {
    format!("{}/mock/{what}", w.https.base_url())
}

#[test]
fn no_identity_is_not_authenticated() {
    let lua = Lua::new();
    let _http = tpt_http::install(&lua, Config::default()).unwrap();
    let (a, b, n): (tpt_http::mlua::Value, String, i64) = lua
        .load("local a, b = http.getAuthToken('x') return a, b, select('#', http.getAuthToken('x'))")
        .eval()
        .unwrap();
    assert!(a.is_nil());
    assert_eq!(b, "not authenticated");
    assert_eq!(n, 2);
}

#[test]
fn audience_must_be_a_string() {
    let lua = Lua::new();
    let _http = tpt_http::install(&lua, Config::default()).unwrap();
    let msg: String = lua
        .load("local ok, e = pcall(function() http.getAuthToken() end) return e")
        .set_name("=auth")
        .eval()
        .unwrap();
    assert_eq!(
        msg,
        "auth:1: bad argument #1 to 'getAuthToken' (string expected, got no value)"
    );
    let msg: String = lua
        .load("local ok, e = pcall(function() http.getAuthToken({}) end) return e")
        .set_name("=auth")
        .eval()
        .unwrap();
    assert_eq!(
        msg,
        "auth:1: bad argument #1 to 'getAuthToken' (string expected, got table)"
    );
}

#[test]
fn ok_gives_the_token_200_and_no_headers_and_the_token_checks_out() {
    let w = world();
    let (jwt, code, headers) = token(w.config(w.https.base_url()), user("42", KEY), b"tptmp");
    assert_eq!((code, headers), (200, 0));
    let parts: Vec<&str> = jwt.split('.').collect();
    assert_eq!(parts.len(), 3, "{jwt}");
    let payload = base64url(parts[1]);
    assert!(
        payload.starts_with(r#"{"sub":"42","name":"alice","aud":"tptmp","iat":"#),
        "{payload}"
    );
    let client = tpt_http::Client::new(w.config(String::new())).unwrap();
    assert_eq!(
        tpt_http::auth::check_token(&client, &w.https.base_url(), &jwt, 60),
        Ok(true)
    );
    let forged = format!("{}.{}.AAAA", parts[0], parts[1]);
    assert_eq!(
        tpt_http::auth::check_token(&client, &w.https.base_url(), &forged, 60),
        Ok(false)
    );
    let err = tpt_http::auth::check_token(&client, &format!("http://127.0.0.1:{}", closed_port()), &jwt, 60);
    assert_eq!(
        err.map_err(|f| f.code()),
        Err(601),
        "http auth server refused under HTTPS-only"
    );
}

#[test]
fn a_wrong_session_is_refused_with_403() {
    let w = world();
    let (body, code, headers) = token(w.config(w.https.base_url()), user("42", "wrong"), b"a");
    assert_eq!((body.as_str(), code, headers), ("Invalid session", 403, 0));
}

#[test]
fn mocked_answers_map_as_tpt_does() {
    let w = world();
    let cases: &[(&str, &str, i64)] = &[
        (r#"{"Status":"OK","Token":"tok"}"#, "tok", 200),
        (r#"{"Status":"Banned"}"#, "Banned", 403),
        (r#"{"Token":"tok"}"#, "", 403),
        (r#"{"Status":"OK"}"#, "", 200),
        ("not json at all", "", 600),
        ("[1,2]", "", 600),
        (r#"{"Status":{"a":1}}"#, "", 600),
        (r#"{"Status":"OK","Token":[1]}"#, "", 600),
    ];
    for (answer, body, code) in cases {
        let encoded: String = answer.bytes().map(|b| format!("%{b:02X}")).collect();
        let got = token(
            w.config(mock(&w, &format!("json/{encoded}"))),
            user("42", KEY),
            b"a",
        );
        assert_eq!(got, (body.to_string(), *code, 0), "answer {answer}");
    }
}

#[test]
fn non_200_and_failures_pass_through() {
    let w = world();
    assert_eq!(
        token(w.config(mock(&w, "status/404")), user("42", KEY), b"a"),
        ("status 404".into(), 404, 0)
    );
    assert_eq!(
        token(w.config(mock(&w, "status/503")), user("42", KEY), b"a"),
        ("status 503".into(), 503, 0)
    );
    let closed = format!("https://127.0.0.1:{}", closed_port());
    assert_eq!(
        token(w.config(closed), user("42", KEY), b"a"),
        (String::new(), 607, 0)
    );
    let http = format!("http://127.0.0.1:{}", closed_port());
    assert_eq!(
        token(w.config(http), user("42", KEY), b"a"),
        (String::new(), 601, 0),
        "no key over http"
    );
}

/// The request as the server saw it (`/echo` report lines), through the echo-status mock.
fn seen(w: &World, who: Option<AuthUser>, audience: &[u8]) -> Vec<String> {
    let (body, code, _) = token(w.config(mock(w, "echo-status/202")), who, audience);
    assert_eq!(code, 202, "{body}");
    body.lines()
        .take_while(|l| !l.is_empty())
        .map(String::from)
        .collect()
}

fn auth_headers(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .filter(|l| l.starts_with("header x-auth"))
        .cloned()
        .collect()
}

#[test]
fn url_and_auth_headers_follow_tpt_rules() {
    let w = world();
    let lines = seen(&w, user("42", KEY), b"tptmp");
    assert_eq!(lines[0], "method GET");
    assert_eq!(
        lines[1],
        "path /mock/echo-status/202/ExternalAuth.api?Action=Get&Audience=tptmp"
    );
    assert_eq!(
        auth_headers(&lines),
        [
            "header x-auth-user-id: 42".to_string(),
            format!("header x-auth-session-key: {KEY}")
        ]
    );
    assert_eq!(
        auth_headers(&seen(&w, user("42", ""), b"a")),
        ["header x-auth-user: 42"]
    );
    assert!(auth_headers(&seen(&w, user("", KEY), b"a")).is_empty());
    assert!(auth_headers(&seen(&w, user("-1", KEY), b"a")).is_empty());
}

#[test]
fn awkward_audience_bytes_are_percent_encoded() {
    let w = world();
    let lines = seen(&w, user("42", KEY), "a b/~._-é\0".as_bytes());
    assert_eq!(
        lines[1],
        "path /mock/echo-status/202/ExternalAuth.api?Action=Get&Audience=a%20b%2F%7E%2E%5F%2D%C3%A9%00"
    );
}

#[test]
fn the_session_key_is_not_sent_after_a_cross_origin_redirect() {
    let w = world();
    let redirect = mock(&w, &format!("redirect-port/{}", w.other.port()));
    let (body, code, _) = token(w.config(redirect), user("42", KEY), b"a");
    assert_eq!(code, 202, "{body}");
    assert!(
        body.contains("header host: 127.0.0.1:"),
        "reached the other origin: {body}"
    );
    assert!(body.contains("header x-auth-user-id: 42"), "{body}");
    assert!(!body.contains(KEY), "session key leaked across origins: {body}");
}

#[test]
fn the_session_key_stays_out_of_traces_and_debug_output() {
    let w = world();
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    let mut config = w.config(w.https.base_url());
    config.trace = Some(Arc::new(move |t: &tpt_http::TraceRecord| {
        sink.lock().unwrap().push(format!("{t:?}"));
    }));
    let debug_config = format!("{config:?}");
    let (_, code, _) = token(config, user("42", KEY), b"a");
    assert_eq!(code, 200);
    let lines = lines.lock().unwrap();
    assert_eq!(lines.len(), 1);
    assert!(lines[0].contains("ExternalAuth.api"), "{}", lines[0]);
    for text in [
        lines[0].as_str(),
        debug_config.as_str(),
        &format!("{:?}", user("42", KEY)),
    ] {
        assert!(!text.contains(KEY), "{text}");
    }
}

#[test]
fn the_provider_is_asked_at_each_call() {
    struct Switch(Mutex<Option<AuthUser>>);
    impl IdentityProvider for Switch {
        fn current_user(&self) -> Option<AuthUser> {
            self.0.lock().unwrap().clone()
        }
    }
    let w = world();
    let lua = Lua::new();
    let http = tpt_http::install(&lua, w.config(w.https.base_url())).unwrap();
    let provider = Arc::new(Switch(Mutex::new(None)));
    http.set_identity(Some(provider.clone()));
    let first: Option<String> = lua
        .load("local r, e = http.getAuthToken('a') return e")
        .eval()
        .unwrap();
    assert_eq!(first.as_deref(), Some("not authenticated"));
    *provider.0.lock().unwrap() = user("42", KEY);
    let kind: String = lua.load("return type((http.getAuthToken('a')))").eval().unwrap();
    assert_eq!(kind, "userdata", "logged in: a request object");
    *provider.0.lock().unwrap() = None;
    let again: Option<String> = lua
        .load("local r, e = http.getAuthToken('a') return e")
        .eval()
        .unwrap();
    assert_eq!(again.as_deref(), Some("not authenticated"));
}

fn base64url(s: &str) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let (mut acc, mut bits, mut out) = (0u32, 0, Vec::new());
    for c in s.bytes() {
        acc = (acc << 6) | A.iter().position(|&a| a == c).expect("base64url") as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    String::from_utf8(out).expect("utf-8 payload")
}
