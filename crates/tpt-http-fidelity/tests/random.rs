//! Seeded random responses (the generator of `tpt_http_testserver::random`, valid and
//! mutated), each read by TPT's libcurl 8.10.1 and by tpt-http and compared as the corpus is.
//! `TPT_HTTP_FIDELITY_CASES` sets the number of cases (default 1,000 valid plus 1,000 mutated),
//! `TPT_HTTP_FIDELITY_SEED` the seed.

use tpt_http_fidelity::{Case, Ours, compare};
use tpt_http_testserver::random::{Rng, mutate, valid_response};

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn random_responses_read_as_libcurl_reads_them() {
    let cases = env("TPT_HTTP_FIDELITY_CASES", 1000);
    let seed = env("TPT_HTTP_FIDELITY_SEED", 0x5eed_f1de_1117_0001);
    let mut rng = Rng(seed);
    let ours = Ours::new();
    let mut failures = Vec::new();
    let mut run = 0;
    for i in 0..cases {
        let body_len = rng.below(3000) as usize;
        let body = rng.bytes(body_len);
        let valid = valid_response(&mut rng, &body);
        let mutated = mutate(&mut rng, &valid);
        for (kind, response) in [("valid", valid), ("mutated", mutated)] {
            let case = Case::literal(format!("random/{kind}/{i}"), response.clone());
            let (reference, mine, diffs) = compare(&ours, &case);
            run += 1;
            if !diffs.is_empty() {
                failures.push(format!(
                    "{} (seed {seed:#x}): {diffs:?}\n    libcurl: {} {:?} {}\n    ours:    {} {:?}\n    response: {:?}",
                    case.name,
                    reference.status,
                    reference.progress,
                    reference.error,
                    mine.status,
                    mine.progress,
                    String::from_utf8_lossy(&response[..response.len().min(400)])
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {run} random cases differ from libcurl:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
