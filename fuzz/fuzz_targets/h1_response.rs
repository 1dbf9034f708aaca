//! A server's answer to one request, read by our HTTP/1.1 connection (`engine/h1.rs`) from
//! memory: never a panic; a success has a final status (not 1xx but 101) and no more body
//! than bytes given, and none for HEAD, 204 or 304; and how the bytes are cut into reads never
//! changes the outcome (the same answer in one piece and in pieces of varying size).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tpt_http::fuzzing::h1_response;

fuzz_target!(|data: &[u8]| {
    let Some((&flags, answer)) = data.split_first() else {
        return;
    };
    let head = flags & 0x80 != 0;
    let split = (flags & 0x7f) | 1;
    let whole = h1_response(answer, head, 0);
    let pieces = h1_response(answer, head, split);
    assert_eq!(
        whole.as_ref().ok(),
        pieces.as_ref().ok(),
        "one piece {whole:?}, pieces {pieces:?}"
    );
    assert_eq!(
        whole.is_ok(),
        pieces.is_ok(),
        "one piece {whole:?}, pieces {pieces:?}"
    );
    match whole {
        Ok((status, body)) => {
            assert!((100..=999).contains(&status), "status {status}");
            assert!(
                !(100..200).contains(&status) || status == 101,
                "interim status {status}"
            );
            assert!(body.len() <= answer.len(), "more body than bytes");
            if head || matches!(status, 101 | 204 | 304) {
                assert!(body.is_empty(), "a body for status {status} (HEAD: {head})");
            }
        }
        Err(reason) => assert!(!reason.is_empty(), "a failure without a reason"),
    }
});
