//! Locations resolved by the engine and by libcurl 8.10.1's own URL API (curl_url_set with the
//! flags libcurl uses when it follows a redirect), on a corpus and on seeded random Locations
//! built from the characters that URL parsers disagree on.

use tpt_http::fuzzing::follow_location;
use tpt_http_fidelity::reference_url;
use tpt_http_testserver::random::Rng;

const BASES: &[&str] = &[
    "http://127.0.0.1:5000/start/here?x=1",
    "http://127.0.0.1:5000",
    "http://user:pw@127.0.0.1:5000/a/b/",
    "http://127.0.0.1:5000/a/{b}/c%20d",
];

const LOCATIONS: &[&str] = &[
    "/next",
    "next",
    "../up",
    "../../../../x",
    "./a/./b/../c",
    "?q=1",
    "#frag",
    "/a b?c d#e f",
    "a b",
    "/é?é",
    "/{x}\"|^`<>\\",
    "//other:81/p",
    "/a/%2e%2e/b",
    "http://h/p/../q",
    "HTTP://H:80/",
    "  /a b  ",
    "/\\host:5/x",
    "/a?b?c",
    "/%41%e9",
    "https://h/",
    "//h",
    "/a/.",
    "/a/..",
    "..",
    ".",
    "/.",
    "/..",
    "a/b/../../..",
    "?",
    "/?",
    "/#",
    "http://h",
    "http://u:p@h:1/x?y#z",
    "/%",
    "/%zz",
    "x/y;z",
];

fn ours(base: &str, location: &str) -> Option<String> {
    follow_location(base.as_bytes(), location.as_bytes()).ok()
}

fn theirs(base: &str, location: &str) -> Option<String> {
    // libcurl trims a Location header's value before following it (the URL API does not), and
    // never sends the fragment.
    let location = location.trim_matches(|c| c == ' ' || c == '\t');
    reference_url(base.as_bytes(), Some(location.as_bytes()))
        .ok()
        .map(|u| u.split('#').next().unwrap_or_default().to_string())
}

/// The differences kept (tpt_http_fidelity::allow_list has the same, for whole transfers):
/// - a host name that the `url` crate refuses and libcurl takes (`é|`, `..e.|`): ours fails at
///   once with 606, libcurl asks the resolver and fails with 602; no request is sent either way;
/// - a run of slashes after a `./` in a relative Location: libcurl's own merge collapses one
///   slash of the run where RFC 3986 keeps them (`.///` from `/a/b`: libcurl `/a//`, ours
///   `/a///`); a server sees a path that differs only in that run.
fn known(libcurl: Option<&str>, ours: Option<&str>) -> bool {
    match (libcurl, ours) {
        (Some(url), None) => {
            let host = url
                .trim_start_matches("http://")
                .split(['/', '?'])
                .next()
                .unwrap_or_default();
            !host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-.:[]@".contains(&b))
        }
        (Some(a), Some(b)) => {
            let squeeze = |s: &str| s.replace("//", "/").replace("//", "/");
            a.contains("//")
                && squeeze(a.trim_start_matches("http://")) == squeeze(b.trim_start_matches("http://"))
        }
        _ => false,
    }
}

#[test]
fn locations_resolve_as_libcurl_resolves_them() {
    let mut failures = Vec::new();
    let mut check = |base: &str, location: &str| {
        if location.trim_start().to_ascii_lowercase().starts_with("https:") {
            return; // this libcurl is built without TLS, so it refuses https; TPT's has it
        }
        if location.trim_matches(|c| c == ' ' || c == '\t').is_empty() {
            return; // a blank Location is not followed (the corpus checks it end to end)
        }
        let (a, b) = (theirs(base, location), ours(base, location));
        if a != b && !known(a.as_deref(), b.as_deref()) {
            failures.push(format!("{base} + {location:?}: libcurl {a:?}, ours {b:?}"));
        }
    };
    for base in BASES {
        for location in LOCATIONS {
            check(base, location);
        }
    }
    // Random Locations from the characters that matter.
    let alphabet: Vec<char> = "/./..?#%2e:@ab\\{}|^é x".chars().collect();
    let mut rng = Rng(0x0c0f_fee0_1234_5678);
    let cases = 2000;
    for _ in 0..cases {
        let len = 1 + rng.below(12) as usize;
        let location: String = (0..len)
            .map(|_| alphabet[rng.below(alphabet.len() as u64) as usize])
            .collect();
        let base = BASES[rng.below(BASES.len() as u64) as usize];
        check(base, &location);
    }
    assert!(
        failures.is_empty(),
        "{} Locations resolve differently:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
