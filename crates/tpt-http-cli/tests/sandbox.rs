//! Safe for scripts nobody trusts: the host's policy (private addresses, host rules, limits).
//! Every denial finishes like any failure, with the 6xx code closest to its cause.

mod common;

use common::{run_with, run_with_ports};
use std::time::Duration;
use tpt_http::policy::HostRule;

#[test]
fn sandbox_private() {
    run_with_ports("sandbox_private", |c, http, _| {
        c.hosts.block_private = true;
        // An allow list restricts every host; only the exact host:port rule re-admits a
        // private address. The others let the refused hosts reach the address check.
        let mut allow = vec![format!("127.0.0.1:{http}")];
        allow.extend(
            [
                "localhost",
                "127.0.0.1",
                "::1",
                "10.0.0.5",
                "169.254.169.254",
                "fd00::1",
                "0.0.0.0",
                "*.localhost",
            ]
            .map(String::from),
        );
        c.hosts.allow = allow.iter().map(|r| HostRule::parse(r).unwrap()).collect();
    });
}

#[test]
fn sandbox_rules() {
    run_with_ports("sandbox_rules", |c, http, _| {
        c.hosts.allow = vec![
            HostRule::parse("*.allowed.test").unwrap(),
            HostRule::parse(&format!("127.0.0.1:{http}")).unwrap(),
            HostRule::parse("localhost").unwrap(),
            HostRule::parse("elsewhere.example").unwrap(),
        ];
        c.hosts.deny = vec![HostRule::parse("localhost").unwrap()];
    });
}

#[test]
fn sandbox_limits() {
    run_with("sandbox_limits", |c| {
        c.max_response_bytes = Some(1000);
        c.max_in_flight = Some(2);
        c.idle_timeout = Some(Duration::from_millis(400));
        c.timeout = Some(Duration::from_secs(3));
    });
}

#[test]
fn sandbox_preset_values() {
    let c = tpt_http::Config::sandbox();
    assert!(c.enforce_https && c.hosts.block_private);
    assert_eq!(c.max_response_bytes, Some(16 << 20));
    assert_eq!(c.max_request_bytes, Some(4 << 20));
    assert_eq!(c.max_in_flight, Some(16));
    assert_eq!(c.connect_timeout, Duration::from_secs(15));
    assert_eq!(c.idle_timeout, Some(Duration::from_secs(30)));
    assert_eq!(c.timeout, Some(Duration::from_secs(120)));
    let t = tpt_http::Config::tpt();
    assert_eq!(t.max_host_connections, 1);
    assert!(t.enforce_https && !t.hosts.block_private && t.timeout.is_none());
    assert_eq!(t.max_request_bytes, None, "TPT has no request-size limit");
}
