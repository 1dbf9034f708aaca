//! A script's URI: `parse_url(bytes, enforce_https)` never panics; it accepts only http(s)
//! with a host (https only when enforced), and refuses with 606 (malformed) or 601
//! (unsupported protocol) and nothing else.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tpt_http::spec::parse_url;

fuzz_target!(|data: &[u8]| {
    let Some((&flag, raw)) = data.split_first() else {
        return;
    };
    let enforce = flag & 1 == 1;
    match parse_url(raw, enforce) {
        Ok(url) => {
            let scheme = url.scheme();
            assert!(
                scheme == "https" || (scheme == "http" && !enforce),
                "scheme {scheme}"
            );
            assert!(url.host_str().is_some_and(|h| !h.is_empty()), "no host in {url}");
            assert!(
                !raw.iter().any(|&b| b <= b' ' || b == 0x7f),
                "control byte accepted"
            );
            // What went in as a URL parses again to the same URL.
            let again = parse_url(url.as_str().as_bytes(), enforce).expect("a parsed URL parses again");
            assert_eq!(again, url);
        }
        Err(failure) => {
            let code = failure.code();
            assert!(code == 606 || code == 601, "parse_url failed with {code}");
        }
    }
});
