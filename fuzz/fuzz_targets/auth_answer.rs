//! The auth server's answer to `http.getAuthToken`, as `finish()` reads it: any bytes, status
//! 200. It must never panic, and give only what the spec allows: `Token, 200` for
//! `Status == "OK"`, `<Status>, 403` for another status, `"", 600` for an unreadable answer.
//! The same bytes as an audience must make a request URL the engine accepts.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tpt_http::auth::{finish_token, token_request};
use tpt_http::spec::parse_url;
use tpt_http::AuthUser;

fuzz_target!(|data: &[u8]| {
    let (code, body) = finish_token(200, data);
    // The oracle: what the spec says of each answer.
    let root = serde_json::from_slice::<serde_json::Value>(data).ok();
    let obj = root.as_ref().and_then(|r| r.as_object());
    let status = obj.and_then(|o| o.get("Status"));
    match code {
        200 => {
            assert_eq!(
                status.and_then(|s| s.as_str()),
                Some("OK"),
                "200 without Status OK"
            );
            let token = obj.and_then(|o| o.get("Token"));
            let expected = match token {
                None | Some(serde_json::Value::Null) => String::new(),
                Some(serde_json::Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
            };
            assert_eq!(body, expected.into_bytes(), "200 body is not the Token");
        }
        403 => {
            assert!(obj.is_some(), "403 from an answer that is not a JSON object");
            assert_ne!(status.and_then(|s| s.as_str()), Some("OK"), "403 with Status OK");
        }
        600 => {
            assert!(body.is_empty(), "600 with a body");
            let readable_ok = status.and_then(|s| s.as_str()) == Some("OK")
                && obj
                    .and_then(|o| o.get("Token"))
                    .is_none_or(|t| !(t.is_array() || t.is_object()));
            assert!(!readable_ok, "600 for a readable OK answer");
        }
        other => panic!("finish_token(200, ..) gave {other}"),
    }
    // Any other status passes through unchanged.
    let (code, passed) = finish_token(503, data);
    assert_eq!((code, passed.as_slice()), (503, data));

    let user = AuthUser {
        user_id: "42".into(),
        session_key: "k".into(),
    };
    let spec = token_request("https://powdertoy.co.uk", data, &user);
    let url = parse_url(&spec.url, true).expect("the token request URL parses");
    let query = url.query().unwrap_or_default();
    assert!(
        query
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"=&%".contains(&b)),
        "audience not fully escaped: {query}"
    );
    let encoded = query.strip_prefix("Action=Get&Audience=").expect("query shape");
    assert_eq!(
        percent_decode(encoded.as_bytes()),
        data,
        "audience does not round-trip"
    );
});

fn percent_decode(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'%' {
            let hex = std::str::from_utf8(&s[i + 1..i + 3]).expect("hex");
            out.push(u8::from_str_radix(hex, 16).expect("hex"));
            i += 3;
        } else {
            out.push(s[i]);
            i += 1;
        }
    }
    out
}
