//! The host's policy: what scripts may reach and how the transport behaves.
//!
//! A [`Config`] is set by the host when it builds a [`crate::Client`]; nothing a script does can
//! change it. The defaults are an official TPT build's (HTTPS enforced, networking on, 15 s
//! connect timeout, at most 10 redirects) except one: 6 connections per host where TPT uses 1
//! ([`Config::tpt`] is TPT exactly).

use crate::policy::HostRules;
use std::sync::Arc;
use std::time::Duration;

/// One finished request, as reported to a [`Config::trace`] sink. Holds no header value.
#[derive(Clone, Debug)]
pub struct TraceRecord {
    /// The method of the first hop (`GET`, `POST`, or the script's verb).
    pub method: String,
    /// The URL as requested, without user info.
    pub url: String,
    /// The final status (HTTP or 6xx).
    pub status: u16,
    /// Body bytes delivered.
    pub bytes: usize,
    /// Time from start to outcome.
    pub elapsed: Duration,
    /// Why the request failed (what `req:error()` says), `None` when a response came. A
    /// request cancelled before it finished has status 0 and the reason `cancelled`.
    pub error: Option<String>,
    /// The protocol of the last response, `"h1"` (HTTP/1.x) or `"h2"`; `None` when none came.
    pub protocol: Option<&'static str>,
}

/// Receives a [`TraceRecord`] for every finished request (called on the engine thread).
pub type TraceSink = Arc<dyn Fn(&TraceRecord) + Send + Sync>;

/// The policy a [`crate::Client`] enforces. Build it with [`Config::default`] and change fields.
///
/// # Example
/// ```
/// let mut config = tpt_http::Config::default();
/// config.enforce_https = false; // allow plain http:// for local development
/// assert_eq!(config.max_redirects, 10);
/// ```
#[derive(Clone)]
pub struct Config {
    /// Only `https://` URLs (and redirects to them) are allowed; anything else finishes with 601.
    /// Default: `true`, as in official TPT builds.
    pub enforce_https: bool,
    /// When `false`, every request finishes with 604 at once. Default: `true`.
    pub network_enabled: bool,
    /// Extra CA certificates (PEM) trusted besides the system store. Default: none.
    pub extra_ca_pem: Option<Vec<u8>>,
    /// Whether the system's CA store is trusted. Default: `true`.
    pub system_roots: bool,
    /// Proxy URL (`http://host:port`). `None` means: use `https_proxy`/`http_proxy`/`all_proxy`
    /// and `no_proxy` from the environment, as libcurl does. Default: `None`.
    pub proxy: Option<String>,
    /// Ignore the proxy environment variables. Default: `false`.
    pub no_proxy_env: bool,
    /// Connections open at once to one host (scheme, host, port). TPT uses 1; we default to 6
    /// so that parallel downloads over HTTP/1.1 really run in parallel.
    pub max_host_connections: usize,
    /// Time allowed for name resolution, TCP and TLS handshakes. Default: 15 s, as TPT.
    pub connect_timeout: Duration,
    /// Redirects followed before a request fails with 611. Default: 10, as TPT.
    pub max_redirects: u32,
    /// The User-Agent header sent unless a script replaces it.
    pub user_agent: String,
    /// TPT's tick gating (spec section 2): a request reports "running" at least until the host's
    /// next [`crate::Http::tick`]. Hosts that call `tick` once per frame set this; a plain
    /// interpreter leaves it off and sees live status. Default: `false`.
    pub tick_gating: bool,
    /// Base URL of the auth server `http.getAuthToken` asks. Default: `https://powdertoy.co.uk`.
    pub auth_server: String,
    /// Called once per request (refused and cancelled ones too), e.g. to print `--trace`
    /// lines. Default: none.
    pub trace: Option<TraceSink>,
    /// Host allow and deny rules, and whether private addresses are refused. Default: no rules,
    /// private addresses allowed (as TPT).
    pub hosts: HostRules,
    /// Longest a request may take from start to end (605 after). Default: none (as TPT).
    pub timeout: Option<Duration>,
    /// Longest a request may wait for the next byte of the response (605 after). Default: none.
    pub idle_timeout: Option<Duration>,
    /// Largest response body accepted; a larger one fails with 600 and no body. Default: none.
    pub max_response_bytes: Option<u64>,
    /// Requests of one Lua state transferring at once; more wait in order. Default: none.
    pub max_in_flight: Option<usize>,
    /// Largest request a script may make: URL, its headers and its body together (see
    /// [`crate::spec::RequestSpec::request_size`]). A larger one finishes at once with 600 and
    /// `request larger than N bytes`, before it holds any memory in the engine. Default: none.
    pub max_request_bytes: Option<u64>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            enforce_https: true,
            network_enabled: true,
            extra_ca_pem: None,
            system_roots: true,
            proxy: None,
            no_proxy_env: false,
            max_host_connections: 6,
            connect_timeout: Duration::from_secs(15),
            max_redirects: 10,
            user_agent: default_user_agent(),
            tick_gating: false,
            auth_server: "https://powdertoy.co.uk".to_string(),
            trace: None,
            hosts: HostRules::default(),
            timeout: None,
            idle_timeout: None,
            max_response_bytes: None,
            max_in_flight: None,
            max_request_bytes: None,
        }
    }
}

impl Config {
    /// Exactly an official TPT build: [`Config::default`] with one connection per host.
    pub fn tpt() -> Config {
        Config {
            max_host_connections: 1,
            ..Config::default()
        }
    }

    /// For scripts nobody trusts: HTTPS only, private and special addresses refused, 15 s
    /// connect, 30 s idle and 120 s total timeouts, responses up to 16 MiB, requests (URL,
    /// headers and body) up to 4 MiB, 16 requests in flight per Lua state.
    ///
    /// # Example
    /// ```
    /// let config = tpt_http::Config::sandbox();
    /// assert!(config.enforce_https && config.hosts.block_private);
    /// assert_eq!(config.max_response_bytes, Some(16 << 20));
    /// assert_eq!(config.max_request_bytes, Some(4 << 20));
    /// ```
    pub fn sandbox() -> Config {
        Config {
            enforce_https: true,
            hosts: HostRules {
                block_private: true,
                ..HostRules::default()
            },
            connect_timeout: Duration::from_secs(15),
            idle_timeout: Some(Duration::from_secs(30)),
            timeout: Some(Duration::from_secs(120)),
            max_response_bytes: Some(16 << 20),
            max_request_bytes: Some(4 << 20),
            max_in_flight: Some(16),
            ..Config::default()
        }
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("enforce_https", &self.enforce_https)
            .field("network_enabled", &self.network_enabled)
            .field("extra_ca_pem", &self.extra_ca_pem.as_ref().map(|p| p.len()))
            .field("system_roots", &self.system_roots)
            .field("proxy", &self.proxy.as_ref().map(|_| "<set>"))
            .field("no_proxy_env", &self.no_proxy_env)
            .field("max_host_connections", &self.max_host_connections)
            .field("connect_timeout", &self.connect_timeout)
            .field("max_redirects", &self.max_redirects)
            .field("user_agent", &self.user_agent)
            .field("tick_gating", &self.tick_gating)
            .field("auth_server", &self.auth_server)
            .field("trace", &self.trace.is_some())
            .field("hosts", &self.hosts)
            .field("timeout", &self.timeout)
            .field("idle_timeout", &self.idle_timeout)
            .field("max_response_bytes", &self.max_response_bytes)
            .field("max_in_flight", &self.max_in_flight)
            .field("max_request_bytes", &self.max_request_bytes)
            .finish()
    }
}

/// The User-Agent in TPT's shape, naming tpt-http:
/// `PowderToy/100.1 (LIN64; NO; M0; Ptpt-http; X86_64-LINUX-GNU) TPTPP/100.1.400R.400 tpt-http/0.1.0`.
pub fn default_user_agent() -> String {
    let platform = match (std::env::consts::OS, cfg!(target_pointer_width = "64")) {
        ("linux", true) => "LIN64",
        ("linux", false) => "LIN32",
        ("windows", true) => "WIN64",
        ("windows", false) => "WIN32",
        ("macos", _) => "MACOSARM",
        (os, _) => os,
    };
    let libc = if cfg!(target_env = "gnu") {
        "GNU"
    } else if cfg!(target_env = "musl") {
        "MUSL"
    } else if cfg!(target_env = "msvc") {
        "MSVC"
    } else {
        "NONE"
    };
    format!(
        "PowderToy/100.1 ({platform}; NO; M0; Ptpt-http; {}-{}-{libc}) TPTPP/100.1.400R.400 tpt-http/{}",
        std::env::consts::ARCH.to_uppercase(),
        std::env::consts::OS.to_uppercase(),
        env!("CARGO_PKG_VERSION")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_agent_has_tpt_shape() {
        let ua = default_user_agent();
        assert!(ua.starts_with("PowderToy/100.1 ("), "{ua}");
        assert!(ua.contains("; NO; M0; Ptpt-http; "), "{ua}");
        assert!(ua.contains(") TPTPP/100.1.400R.400 "), "{ua}");
        assert!(
            ua.ends_with(&format!(" tpt-http/{}", env!("CARGO_PKG_VERSION"))),
            "{ua}"
        );
    }

    #[test]
    fn defaults_match_an_official_build() {
        let c = Config::default();
        assert!(c.enforce_https && c.network_enabled && c.system_roots);
        assert_eq!(c.connect_timeout, Duration::from_secs(15));
        assert_eq!(c.max_redirects, 10);
        assert!(!c.tick_gating);
    }
}
