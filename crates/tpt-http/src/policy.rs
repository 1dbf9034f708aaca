//! The host's address and host-name rules, as pure verdicts (no I/O).
//!
//! [`HostRule`] matches a host name or IP literal (optionally `*.` for any subdomain) and an
//! optional port. [`is_special`] says whether an address is private or special-purpose (the
//! sandbox refuses those). The engine asks [`check_host`] before every hop and
//! [`check_address`] for the address it is about to connect to, so a DNS answer that points at
//! a private address (DNS rebinding) is refused just like a literal one.

use crate::failure::{Failure, FailureKind};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// A host pattern with an optional port: `example.com`, `*.example.com`, `127.0.0.1:8080`,
/// `[::1]:443`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostRule {
    /// Lower-case host without brackets; a leading `*.` matches any subdomain (not the domain
    /// itself).
    pub host: String,
    /// The port the rule is limited to, if any.
    pub port: Option<u16>,
}

impl HostRule {
    /// Parse `HOST[:PORT]`.
    ///
    /// # Errors
    /// An empty host, or a port that is not a number from 1 to 65535.
    ///
    /// # Example
    /// ```
    /// use tpt_http::policy::HostRule;
    /// let rule = HostRule::parse("*.example.com:443").unwrap();
    /// assert!(rule.matches("api.example.com", 443));
    /// assert!(!rule.matches("example.com", 443));
    /// assert!(!rule.matches("api.example.com", 80));
    /// ```
    pub fn parse(text: &str) -> Result<HostRule, String> {
        let text = text.trim();
        let (host, port) = if let Some(rest) = text.strip_prefix('[') {
            let (h, after) = rest
                .split_once(']')
                .ok_or_else(|| format!("bad host rule \"{text}\""))?;
            (h, after.strip_prefix(':'))
        } else if text.matches(':').count() == 1 {
            let (h, p) = text.split_once(':').unwrap_or((text, ""));
            (h, Some(p))
        } else {
            (text, None)
        };
        if host.is_empty() {
            return Err(format!("bad host rule \"{text}\": no host"));
        }
        // A host name (letters, digits, `-`, `_`, `.`, optionally after `*.`), an IPv4 address,
        // or an IPv6 one (hex digits, `:` and `.`, inside brackets or bare).
        let name = host.strip_prefix("*.").unwrap_or(host);
        let fits = |b: u8| b.is_ascii_alphanumeric() || b"-_.:".contains(&b);
        if name.is_empty() || !name.bytes().all(fits) || name.contains('*') {
            return Err(format!(
                "bad host rule \"{text}\": a host name, an IP address or *.domain, with an optional :port"
            ));
        }
        let port = match port {
            None => None,
            Some(p) => match p.parse::<u16>() {
                Ok(n) if n > 0 => Some(n),
                _ => return Err(format!("bad host rule \"{text}\": bad port")),
            },
        };
        Ok(HostRule {
            host: host.to_ascii_lowercase(),
            port,
        })
    }

    /// Does this rule cover `host` (as in a URL, IPv6 with or without brackets) on `port`?
    pub fn matches(&self, host: &str, port: u16) -> bool {
        if self.port.is_some_and(|p| p != port) {
            return false;
        }
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        match self.host.strip_prefix("*.") {
            Some(domain) => host.len() > domain.len() + 1 && host.ends_with(&format!(".{domain}")),
            None => host == self.host || same_ip(&host, &self.host),
        }
    }

    /// Is this an explicit rule for exactly this host and port (no wildcard)? Only such a rule
    /// re-admits a private address.
    pub fn admits_exactly(&self, host: &str, port: u16) -> bool {
        self.port == Some(port) && !self.host.starts_with("*.") && self.matches(host, port)
    }
}

fn same_ip(a: &str, b: &str) -> bool {
    matches!((a.parse::<IpAddr>(), b.parse::<IpAddr>()), (Ok(x), Ok(y)) if canonical(x) == canonical(y))
}

/// IPv4-mapped IPv6 addresses as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Is `ip` private or special-purpose: loopback, private ranges, link-local, CGNAT, unique local,
/// multicast, unspecified, broadcast, reserved, documentation or benchmarking ranges, and any
/// IPv6 address that embeds an IPv4 one: mapped (`::ffff:a.b.c.d`), translated
/// (`::ffff:0:a.b.c.d`), compatible (`::a.b.c.d`), 6to4 (`2002::/16`), NAT64 (`64:ff9b::/96`,
/// `64:ff9b:1::/48`) and Teredo (`2001::/32`)? Whatever the IPv4 address inside, these are
/// refused: which one a relay or translator would reach is not ours to judge.
pub fn is_special(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_special_v4(v4),
        IpAddr::V6(v6) => is_special_v6(v6),
    }
}

fn is_special_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    a == 0                                   // "this network", unspecified
        || a == 10                           // private
        || a == 127                          // loopback
        || (a == 100 && (64..128).contains(&b)) // CGNAT 100.64/10
        || (a == 169 && b == 254)            // link-local
        || (a == 172 && (16..32).contains(&b)) // private
        || (a == 192 && b == 0 && c == 0)    // IETF protocol assignments
        || (a == 192 && b == 0 && c == 2)    // documentation
        || (a == 192 && b == 88 && c == 99)  // 6to4 relay anycast
        || (a == 192 && b == 168)            // private
        || (a == 198 && (18..20).contains(&b)) // benchmarking
        || (a == 198 && b == 51 && c == 100) // documentation
        || (a == 203 && b == 0 && c == 113)  // documentation
        || a >= 224 // multicast, reserved, broadcast
}

fn is_special_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    ip.is_unspecified()
        || ip.is_loopback()
        || (s[0] & 0xfe00) == 0xfc00             // unique local
        || (s[0] & 0xffc0) == 0xfe80             // link-local
        || (s[0] & 0xffc0) == 0xfec0             // site-local (deprecated)
        || (s[0] & 0xff00) == 0xff00             // multicast
        || s[..6] == [0, 0, 0, 0, 0, 0xffff]     // IPv4-mapped ::ffff:0:0/96
        || s[..6] == [0, 0, 0, 0, 0xffff, 0]     // IPv4-translated ::ffff:0:0:0/96 (SIIT)
        || s[..6] == [0, 0, 0, 0, 0, 0]          // IPv4-compatible (and ::, ::1)
        || s[0] == 0x2002                        // 6to4
        || s[..6] == [0x64, 0xff9b, 0, 0, 0, 0]  // NAT64
        || (s[0] == 0x64 && s[1] == 0xff9b && s[2] == 1) // local-use NAT64
        || (s[0] == 0x2001 && s[1] == 0x0db8)    // documentation
        || (s[0] == 0x2001 && s[1] < 0x200)      // IETF protocol assignments, Teredo
        || s[0] == 0x100 && s[1..4] == [0, 0, 0] // discard-only
}

/// The host-name rules of a policy.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostRules {
    /// When non-empty, only hosts matching one of these are allowed.
    pub allow: Vec<HostRule>,
    /// Hosts refused even when allowed.
    pub deny: Vec<HostRule>,
    /// Refuse private and special addresses (see [`is_special`]) unless an allow rule names
    /// exactly that host and port.
    pub block_private: bool,
}

fn blocked(why: String) -> Failure {
    Failure::new(FailureKind::Blocked, format!("blocked by policy: {why}"))
}

/// May a hop go to `host:port` at all (before any address is known)?
///
/// # Errors
/// A `Blocked` failure naming the rule that refused it.
pub fn check_host(rules: &HostRules, host: &str, port: u16) -> Result<(), Failure> {
    if rules.deny.iter().any(|r| r.matches(host, port)) {
        return Err(blocked(format!("host {host} is denied")));
    }
    if !rules.allow.is_empty() && !rules.allow.iter().any(|r| r.matches(host, port)) {
        return Err(blocked(format!("host {host} is not allowed")));
    }
    if rules.block_private {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = bare.parse::<IpAddr>() {
            check_address(rules, host, port, ip)?;
        }
    }
    Ok(())
}

/// Which of the addresses `host:port` resolved to may be connected to. A deny rule that names
/// any of them refuses the host whole (whatever name led there: `--deny-host 127.0.0.1`
/// refuses `localhost`); otherwise the addresses [`check_address`] admits, failing with its
/// verdict when none is left.
///
/// # Errors
/// A `Blocked` failure naming the denied or private address.
pub fn admit_addresses(
    rules: &HostRules,
    host: &str,
    port: u16,
    addrs: Vec<SocketAddr>,
) -> Result<Vec<SocketAddr>, Failure> {
    let denied = addrs
        .iter()
        .map(|a| canonical(a.ip()))
        .find(|ip| rules.deny.iter().any(|r| r.matches(&ip.to_string(), port)));
    if let Some(ip) = denied {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        return Err(blocked(format!("host {bare} is denied (it resolves to {ip})")));
    }
    let mut refusal = None;
    let admitted: Vec<_> = addrs
        .into_iter()
        .filter(|a| match check_address(rules, host, port, a.ip()) {
            Ok(()) => true,
            Err(f) => {
                refusal.get_or_insert(f);
                false
            }
        })
        .collect();
    match (admitted.is_empty(), refusal) {
        (true, Some(f)) => Err(f),
        _ => Ok(admitted),
    }
}

/// May we connect to `ip` for `host:port`?
///
/// # Errors
/// A `Blocked` failure naming the private address.
pub fn check_address(rules: &HostRules, host: &str, port: u16, ip: IpAddr) -> Result<(), Failure> {
    if rules.block_private && is_special(ip) && !rules.allow.iter().any(|r| r.admits_exactly(host, port)) {
        return Err(blocked(format!("private address {}", canonical(ip))));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn special(s: &str) -> bool {
        is_special(s.parse().unwrap())
    }

    #[test]
    fn special_addresses() {
        for s in [
            "127.0.0.1",
            "127.255.0.9",
            "10.0.0.5",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.255",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "240.0.0.1",
            "192.0.2.1",
            "::1",
            "::",
            "fc00::1",
            "fd12::1",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:8.8.8.8",
            "::127.0.0.1",
            "2002:7f00:1::",
            "64:ff9b::7f00:1",
            "64:ff9b:1::a00:5",
            "2001:db8::1",
            "::ffff:0:7f00:1",
            "::ffff:0:127.0.0.1",
            "::ffff:0:8.8.8.8",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "2002:808:808::1",
            "::8.8.8.8",
        ] {
            assert!(special(s), "{s} should be special");
        }
        for s in [
            "8.8.8.8",
            "1.1.1.1",
            "172.32.0.1",
            "100.128.0.1",
            "192.169.0.1",
            "2606:4700::1111",
            "2a00:1450::1",
            "::fffe:0:7f00:1",
            "0:0:0:1:ffff:0:7f00:1",
            "2003::1",
        ] {
            assert!(!special(s), "{s} should be public");
        }
    }

    /// The edges of the special ranges, and addresses just outside them (mutation audit).
    #[test]
    fn special_v4_range_edges() {
        for s in [
            "0.255.255.255",
            "10.255.255.255",
            "100.64.0.0",
            "169.254.0.0",
            "169.254.255.255",
            "172.16.0.0",
            "192.0.0.1",
            "192.0.2.255",
            "192.88.99.1",
            "192.168.0.0",
            "192.168.255.255",
            "198.18.0.1",
            "198.19.255.255",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.0",
            "fec0::1",
            "feff::1",
        ] {
            assert!(special(s), "{s} should be special");
        }
        for s in [
            "1.0.0.0",
            "9.255.255.255",
            "11.0.0.1",
            "126.255.255.255",
            "128.0.0.1",
            "100.0.0.1",
            "100.63.255.255",
            "169.253.0.1",
            "169.255.0.1",
            "172.15.255.255",
            "192.0.1.1",
            "192.0.3.1",
            "192.1.0.1",
            "192.88.98.1",
            "192.88.100.1",
            "192.167.1.1",
            "198.17.0.1",
            "198.20.0.1",
            "198.51.99.1",
            "198.52.100.1",
            "203.0.112.1",
            "203.1.113.1",
            "223.255.255.255",
            "64:1::1",
            "100:1::1",
            "2a00:db8::1",
            "2001:200::1",
            "fe00::1",
            "2a00:1450:1::1",
        ] {
            assert!(!special(s), "{s} should be public");
        }
    }

    #[test]
    fn wildcards_need_a_label_and_exact_rules_a_port() {
        let w = HostRule::parse("*.example.com").unwrap();
        assert!(!w.matches(".example.com", 80), "an empty label is no subdomain");
        assert!(w.matches("a.example.com", 80));
        let exact = HostRule::parse("127.0.0.1:8080").unwrap();
        assert!(exact.admits_exactly("127.0.0.1", 8080));
        assert!(!exact.admits_exactly("127.0.0.1", 8081));
        let any_port = HostRule::parse("127.0.0.1").unwrap();
        assert!(
            !any_port.admits_exactly("127.0.0.1", 8080),
            "a rule without a port is not exact"
        );
        let wild = HostRule::parse("*.local.test:8080").unwrap();
        assert!(
            !wild.admits_exactly("a.local.test", 8080),
            "a wildcard is not exact"
        );
    }

    #[test]
    fn rules_parse_and_match() {
        let r = HostRule::parse("Example.COM").unwrap();
        assert!(r.matches("example.com", 1) && r.matches("EXAMPLE.com", 443));
        assert!(!r.matches("www.example.com", 443));
        let w = HostRule::parse("*.example.com").unwrap();
        assert!(
            w.matches("a.b.example.com", 80)
                && !w.matches("example.com", 80)
                && !w.matches("badexample.com", 80)
        );
        let p = HostRule::parse("127.0.0.1:8080").unwrap();
        assert_eq!(p.port, Some(8080));
        assert!(p.matches("127.0.0.1", 8080) && !p.matches("127.0.0.1", 8081));
        assert!(
            p.matches("[::ffff:127.0.0.1]", 8080),
            "IPv4-mapped spelling of the same address"
        );
        let v6 = HostRule::parse("[::1]:443").unwrap();
        assert_eq!((v6.host.as_str(), v6.port), ("::1", Some(443)));
        assert!(v6.matches("[::1]", 443));
        assert!(HostRule::parse("").is_err());
        assert!(HostRule::parse("x:0").is_err());
        assert!(HostRule::parse("x:99999").is_err());
        assert!(HostRule::parse("[::1").is_err());
        assert!(HostRule::parse("bad host!").is_err());
        assert!(HostRule::parse("a*b.com").is_err());
        assert!(HostRule::parse("*.").is_err());
        assert!(HostRule::parse("*.ok-host_1.test:8080").is_ok());
        assert!(HostRule::parse("::ffff:127.0.0.1").is_ok());
    }

    #[test]
    fn verdicts() {
        let rules = HostRules {
            allow: vec![
                HostRule::parse("localhost:8443").unwrap(),
                HostRule::parse("*.ok.test").unwrap(),
            ],
            deny: vec![HostRule::parse("bad.ok.test").unwrap()],
            block_private: true,
        };
        assert!(check_host(&rules, "a.ok.test", 443).is_ok());
        assert_eq!(
            check_host(&rules, "bad.ok.test", 443).unwrap_err().reason(),
            "blocked by policy: host bad.ok.test is denied"
        );
        assert!(check_host(&rules, "other.test", 443).is_err());
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        assert!(
            check_address(&rules, "localhost", 8443, lo).is_ok(),
            "explicit rule re-admits"
        );
        assert!(check_address(&rules, "localhost", 8444, lo).is_err());
        let err = check_address(&rules, "a.ok.test", 443, "10.0.0.5".parse().unwrap()).unwrap_err();
        assert_eq!(err.reason(), "blocked by policy: private address 10.0.0.5");
        assert_eq!(err.code(), 607);
        let open = HostRules {
            block_private: true,
            ..HostRules::default()
        };
        assert!(
            check_host(&open, "127.0.0.1", 80).is_err(),
            "IP literal checked before connecting"
        );
        assert!(check_host(&open, "example.com", 80).is_ok());
    }

    #[test]
    fn deny_rules_match_the_resolved_address() {
        let sock = |s: &str| -> SocketAddr { s.parse().unwrap() };
        let rules = HostRules {
            deny: vec![HostRule::parse("127.0.0.1:8080").unwrap()],
            ..HostRules::default()
        };
        let err = admit_addresses(
            &rules,
            "localhost",
            8080,
            vec![sock("[::1]:8080"), sock("127.0.0.1:8080")],
        )
        .unwrap_err();
        assert_eq!(
            err.reason(),
            "blocked by policy: host localhost is denied (it resolves to 127.0.0.1)"
        );
        assert_eq!(err.code(), 607);
        let mapped = admit_addresses(&rules, "x.test", 8080, vec![sock("[::ffff:127.0.0.1]:8080")]);
        assert!(mapped.is_err(), "an IPv4-mapped answer is the same address");
        let other_port = admit_addresses(&rules, "localhost", 8081, vec![sock("127.0.0.1:8081")]);
        assert_eq!(other_port.unwrap(), vec![sock("127.0.0.1:8081")]);
        let private = HostRules {
            block_private: true,
            ..HostRules::default()
        };
        let mixed = admit_addresses(
            &private,
            "x.test",
            80,
            vec![sock("10.0.0.1:80"), sock("8.8.8.8:80")],
        );
        assert_eq!(mixed.unwrap(), vec![sock("8.8.8.8:80")], "private ones left out");
        let none = admit_addresses(&private, "x.test", 80, vec![sock("10.0.0.1:80")]).unwrap_err();
        assert_eq!(none.reason(), "blocked by policy: private address 10.0.0.1");
    }
}
