//! `tpt-http`, the command line runner for TPT-style Lua scripts, as a library: the tick loop
//! ([`runner`]) and the offline demo ([`demo`]). `main.rs` only parses flags and calls these.

pub mod demo;
pub mod runner;
