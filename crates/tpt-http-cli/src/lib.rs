//! `tpt-http`, the command line runner for TPT-style Lua scripts, as a library: the tick loop
//! ([`runner`]) and the offline demo ([`demo`]). `main.rs` only parses flags and calls these.

pub mod demo;
pub mod runner;

/// The Rust snippets of README.md and module/README.md, compiled (and run unless marked
/// `no_run`) by `cargo test -p tpt-http-cli --doc`, so a snippet that rots fails the tests.
/// The Lua snippets are run by `tests/readme.rs` and `module/spec/docs_spec.lua`.
#[cfg(doctest)]
pub mod readme {
    #[doc = include_str!("../../../README.md")]
    pub struct Readme;
    #[doc = include_str!("../../../module/README.md")]
    pub struct ModuleReadme;
}
