//! Extensions beyond TPT (README "Beyond TPT"): streaming reads, failure reasons, waiting from
//! coroutines, per-request options — each invisible to scripts that only use TPT's API.

mod common;

#[test]
fn beyond() {
    common::run("beyond");
}
