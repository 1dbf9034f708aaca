//! `tpt-http demo`: an offline tour. Starts an HTTPS server on loopback with a CA made at run
//! time, which is also the auth server for `http.getAuthToken` (user 1234 is logged in), then
//! runs the bundled script (`scripts/demo.lua`) against it with HTTPS enforced, as in an
//! official TPT build.

use crate::runner::{self, RunError, RunOptions};
use tpt_http::AuthUser;
use tpt_http_testserver::{Server, TestCa};

/// The bundled demo script.
pub const SCRIPT: &str = include_str!("../scripts/demo.lua");

/// Run the demo; `opts.config` gets the demo CA added. Returns the script's exit code.
///
/// # Errors
/// The script failed (it should not).
pub fn run(mut opts: RunOptions) -> Result<i32, RunError> {
    let ca = TestCa::new();
    let server = Server::https(&ca);
    server.add_file(
        "readme.txt",
        b"The Powder Toy's http API, outside the game.\n".to_vec(),
    );
    let save: Vec<u8> = (0..1_500_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    server.add_file("save.cps", save);
    server.add_user("1234", "demo-session-key", "DemoUser");
    opts.config.auth_server = server.base_url();
    opts.identity = Some(AuthUser {
        user_id: "1234".into(),
        session_key: "demo-session-key".into(),
    });
    let mut pem = opts.config.extra_ca_pem.take().unwrap_or_default();
    pem.extend_from_slice(ca.cert_pem().as_bytes());
    opts.config.extra_ca_pem = Some(pem);
    runner::run_source("demo.lua", SCRIPT.as_bytes(), &[server.base_url()], &opts)
}
