//! The reference auth server: TPT's `ExternalAuth.api`, served by every [`Server`](crate::Server).
//!
//! - `GET /ExternalAuth.api?Action=Get&Audience=A` with `X-Auth-User-Id` and `X-Auth-Session-Key`
//!   of a user added with `Server::add_user` answers `{"Status":"OK","Token":JWT}`, where the JWT
//!   (HS256, signed with a key made when the server starts) has the payload
//!   `{"sub":ID,"name":NAME,"aud":A,"iat":SECONDS}`. A wrong key answers
//!   `{"Status":"Invalid session"}`; no (or only `X-Auth-User`) credentials answer
//!   `{"Status":"Not logged in"}`.
//! - `GET /ExternalAuth.api?Action=Check&MaxAge=S&Token=T` answers `{"Status":"OK"}` for a token
//!   this server signed less than `S` seconds ago, else `{"Status":"Invalid token"}` or
//!   `{"Status":"Expired"}`.
//! - Mock answers, for the client's error paths, under `/mock/KIND/ARG/ExternalAuth.api`:
//!   `json/BODY` (200 with the percent-decoded BODY), `status/N` (status N, body `status N`),
//!   `echo-status/N` (the `/echo` report with status N), `redirect-port/P` (302 to
//!   `https://127.0.0.1:P/mock/echo-status/202/ExternalAuth.api`, another origin).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::hmac;
use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

/// Users and signing key of one server.
pub(crate) struct Users {
    key: hmac::Key,
    users: HashMap<String, (String, String)>,
}

impl Users {
    pub(crate) fn new() -> Users {
        let rng = ring::rand::SystemRandom::new();
        let key = hmac::Key::generate(hmac::HMAC_SHA256, &rng).expect("generating the token key");
        Users {
            key,
            users: HashMap::new(),
        }
    }

    pub(crate) fn add(&mut self, id: &str, session_key: &str, name: &str) {
        self.users
            .insert(id.to_owned(), (session_key.to_owned(), name.to_owned()));
    }

    /// The JSON answer to `Action=Get` for these credentials.
    pub(crate) fn get(&self, audience: &str, user_id: Option<&str>, session_key: Option<&str>) -> String {
        let (Some(id), Some(key)) = (user_id, session_key) else {
            return r#"{"Status":"Not logged in"}"#.to_owned();
        };
        match self.users.get(id) {
            Some((k, name)) if k == key => {
                format!(
                    r#"{{"Status":"OK","Token":"{}"}}"#,
                    self.sign(id, name, audience, now())
                )
            }
            _ => r#"{"Status":"Invalid session"}"#.to_owned(),
        }
    }

    /// The JSON answer to `Action=Check`.
    pub(crate) fn check(&self, token: &str, max_age: u64) -> String {
        let status = match self.verify(token) {
            None => "Invalid token",
            Some(iat) if now().saturating_sub(iat) > max_age => "Expired",
            Some(_) => "OK",
        };
        format!(r#"{{"Status":"{status}"}}"#)
    }

    fn sign(&self, id: &str, name: &str, audience: &str, iat: u64) -> String {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
        let payload = format!(
            r#"{{"sub":"{}","name":"{}","aud":"{}","iat":{iat}}}"#,
            json_escape(id),
            json_escape(name),
            json_escape(audience)
        );
        let signed = format!("{header}.{}", URL_SAFE_NO_PAD.encode(payload));
        let tag = hmac::sign(&self.key, signed.as_bytes());
        format!("{signed}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
    }

    /// The token's `iat` if this server signed it.
    fn verify(&self, token: &str) -> Option<u64> {
        let (signed, tag) = token.rsplit_once('.')?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        hmac::verify(&self.key, signed.as_bytes(), &tag).ok()?;
        let payload = URL_SAFE_NO_PAD.decode(signed.split('.').nth(1)?).ok()?;
        let payload = String::from_utf8(payload).ok()?;
        let iat = payload.split("\"iat\":").nth(1)?;
        iat.trim_end_matches('}').trim().parse().ok()
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn json_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_are_checked() {
        let mut users = Users::new();
        users.add("42", "secret", "alice");
        assert_eq!(
            users.get("aud", Some("42"), Some("wrong")),
            r#"{"Status":"Invalid session"}"#
        );
        assert_eq!(users.get("aud", None, None), r#"{"Status":"Not logged in"}"#);
        let answer = users.get("tptmp", Some("42"), Some("secret"));
        let token = answer
            .split("\"Token\":\"")
            .nth(1)
            .unwrap()
            .trim_end_matches("\"}");
        let payload = URL_SAFE_NO_PAD.decode(token.split('.').nth(1).unwrap()).unwrap();
        let payload = String::from_utf8(payload).unwrap();
        assert!(
            payload.starts_with(r#"{"sub":"42","name":"alice","aud":"tptmp","iat":"#),
            "{payload}"
        );
        assert_eq!(users.check(token, 60), r#"{"Status":"OK"}"#);
        assert_eq!(
            users.check(&format!("{token}x"), 60),
            r#"{"Status":"Invalid token"}"#
        );
        let old = users.sign("42", "alice", "tptmp", now() - 100);
        assert_eq!(users.check(&old, 60), r#"{"Status":"Expired"}"#);
        assert_eq!(Users::new().check(token, 60), r#"{"Status":"Invalid token"}"#);
    }
}
