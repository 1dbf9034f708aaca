//! A script's headers merged into the client's defaults (`merge_headers`), as libcurl does:
//! never panics; Content-Length and Transfer-Encoding stay the client's; no name holds a colon;
//! every header kept has a non-empty, trimmed value; defaults keep their places.
//!
//! Input: fields separated by 0xFF, taken two by two as (name, value).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tpt_http::spec::merge_headers;

fuzz_target!(|data: &[u8]| {
    let fields: Vec<&[u8]> = data.split(|&b| b == 0xff).collect();
    let caller: Vec<(Vec<u8>, Vec<u8>)> = fields
        .chunks(2)
        .map(|pair| {
            (
                pair[0].to_vec(),
                pair.get(1).copied().unwrap_or_default().to_vec(),
            )
        })
        .collect();
    let defaults: Vec<(&str, Vec<u8>)> = vec![
        ("Host", b"example.com".to_vec()),
        ("User-Agent", b"PowderToy/100.1".to_vec()),
        ("Accept", b"*/*".to_vec()),
        ("Content-Type", b"application/x-www-form-urlencoded".to_vec()),
    ];
    let merged = merge_headers(&defaults, &caller);
    let blank = |b: &u8| *b == b' ' || *b == b'\t';
    for (name, value) in &merged {
        assert!(!name.contains(&b':'), "colon in name {name:?}");
        assert!(
            !name.eq_ignore_ascii_case(b"content-length") && !name.eq_ignore_ascii_case(b"transfer-encoding"),
            "caller framing header kept"
        );
        assert!(!value.is_empty(), "empty value kept for {name:?}");
        assert!(
            !value.first().is_some_and(blank) && !value.last().is_some_and(blank),
            "untrimmed value {value:?}"
        );
    }
    // Defaults come first, in order, each at most once.
    let mut next = 0;
    for (name, _) in merged
        .iter()
        .take_while(|(n, _)| defaults.iter().any(|(d, _)| d.as_bytes().eq_ignore_ascii_case(n)))
    {
        let at = defaults[next..]
            .iter()
            .position(|(d, _)| d.as_bytes().eq_ignore_ascii_case(name));
        match at {
            Some(i) => next += i + 1,
            None => break, // a second occurrence of a default: an extra, after the defaults
        }
    }
    assert!(merged.len() <= defaults.len() + caller.len());
});
