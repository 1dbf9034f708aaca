//! Opening connections: name resolution, TCP, an optional proxy tunnel, TLS, and the HTTP/1.1 or
//! HTTP/2 handshake chosen by ALPN. Every failure is classified into a [`FailureKind`] here.

use super::activity::{Activity, Tracked};
use super::h1::{self, Stream};
use super::pool::{Conn, H2, Origin, SlotGuard};
use crate::Error;
use crate::config::Config;
use crate::failure::{Failure, FailureKind};
use crate::policy::{self, HostRules};
use bytes::Bytes;
use http_body_util::Full;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use std::sync::{Arc, OnceLock};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

fn system_roots() -> &'static [CertificateDer<'static>] {
    static ROOTS: OnceLock<Vec<CertificateDer<'static>>> = OnceLock::new();
    ROOTS.get_or_init(|| rustls_native_certs::load_native_certs().certs)
}

/// The TLS settings of a client. The extra CA is parsed (and checked) when the client is built;
/// the rustls configuration, with the system store (a few milliseconds of parsing), only when the
/// first HTTPS connection is opened, so plain-http and offline runs never pay for it.
pub(crate) struct Tls {
    extra: Vec<CertificateDer<'static>>,
    system: bool,
    config: OnceLock<Arc<rustls::ClientConfig>>,
}

impl Tls {
    pub(crate) fn new(config: &Config) -> Result<Tls, Error> {
        let mut extra = Vec::new();
        if let Some(pem) = &config.extra_ca_pem {
            let mut check = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(pem) {
                let cert = cert.map_err(|e| Error::config(format!("extra CA is not valid PEM: {e}")))?;
                check
                    .add(cert.clone())
                    .map_err(|e| Error::config(format!("extra CA certificate rejected: {e}")))?;
                extra.push(cert);
            }
            if extra.is_empty() {
                return Err(Error::config("extra CA file holds no certificate"));
            }
        }
        Ok(Tls {
            extra,
            system: config.system_roots,
            config: OnceLock::new(),
        })
    }

    /// TLS 1.2 minimum, the system roots (if trusted) plus the extra CA, ALPN h2 and http/1.1.
    pub(crate) fn config(&self) -> Arc<rustls::ClientConfig> {
        self.config
            .get_or_init(|| {
                let mut roots = rustls::RootCertStore::empty();
                if self.system {
                    let (_added, _ignored) = roots.add_parsable_certificates(system_roots().iter().cloned());
                }
                let (_added, _ignored) = roots.add_parsable_certificates(self.extra.iter().cloned());
                let provider = Arc::new(rustls::crypto::ring::default_provider());
                let builder = rustls::ClientConfig::builder_with_provider(provider);
                // ring supports TLS 1.2 and 1.3, so the safe defaults are always available.
                let mut tls = match builder.with_safe_default_protocol_versions() {
                    Ok(b) => b.with_root_certificates(roots).with_no_client_auth(),
                    Err(_) => rustls::ClientConfig::builder()
                        .with_root_certificates(rustls::RootCertStore::empty())
                        .with_no_client_auth(),
                };
                tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
                Arc::new(tls)
            })
            .clone()
    }
}

/// Which proxy (if any) serves which origin.
#[derive(Clone, Debug, Default)]
pub(crate) struct ProxyRules {
    http: Option<(String, u16)>,
    https: Option<(String, u16)>,
    no_proxy: Vec<String>,
}

fn parse_proxy(raw: &str) -> Result<(String, u16), Error> {
    let with_scheme = if raw.contains("://") {
        raw.to_string()
    } else {
        format!("http://{raw}")
    };
    let url = url::Url::parse(&with_scheme).map_err(|e| Error::config(format!("bad proxy url: {e}")))?;
    if url.scheme() != "http" {
        return Err(Error::config(format!(
            "unsupported proxy scheme \"{}\"",
            url.scheme()
        )));
    }
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| Error::config("proxy url has no host"))?;
    // The url crate hides a scheme's default port, so ":80" written out looks like no port at
    // all; libcurl's default proxy port (1080) applies only when none is written.
    let authority = with_scheme.split_once("://").map_or("", |(_, rest)| rest);
    let authority = authority.split(['/', '?', '#']).next().unwrap_or_default();
    let written = authority
        .rsplit_once(':')
        .is_some_and(|(_, p)| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    let port = url.port().unwrap_or(if written { 80 } else { 1080 });
    Ok((
        host.trim_start_matches('[').trim_end_matches(']').to_string(),
        port,
    ))
}

impl ProxyRules {
    pub(crate) fn from_config(config: &Config) -> Result<ProxyRules, Error> {
        if let Some(p) = &config.proxy {
            let p = parse_proxy(p)?;
            return Ok(ProxyRules {
                http: Some(p.clone()),
                https: Some(p),
                no_proxy: Vec::new(),
            });
        }
        if config.no_proxy_env {
            return Ok(ProxyRules::default());
        }
        let env = |names: &[&str]| {
            names
                .iter()
                .find_map(|n| std::env::var(n).ok().filter(|v| !v.is_empty()))
        };
        let all = env(&["all_proxy", "ALL_PROXY"]);
        // libcurl reads only the lower-case http_proxy (the upper-case one is a CGI hazard).
        let http = env(&["http_proxy"]).or_else(|| all.clone());
        let https = env(&["https_proxy", "HTTPS_PROXY"]).or(all);
        let no_proxy = env(&["no_proxy", "NO_PROXY"])
            .map(|v| {
                v.split(',')
                    .map(|s| s.trim().to_ascii_lowercase())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        Ok(ProxyRules {
            http: http.map(|p| parse_proxy(&p)).transpose()?,
            https: https.map(|p| parse_proxy(&p)).transpose()?,
            no_proxy,
        })
    }

    /// The proxy to use for `origin`, if any.
    pub(crate) fn for_origin(&self, origin: &Origin) -> Option<&(String, u16)> {
        let proxy = if origin.https {
            self.https.as_ref()
        } else {
            self.http.as_ref()
        }?;
        let host = origin.bare_host().to_ascii_lowercase();
        let excluded = self.no_proxy.iter().any(|rule| {
            rule == "*" || {
                let rule = rule.trim_start_matches('.');
                host == rule || host.ends_with(&format!(".{rule}"))
            }
        });
        (!excluded).then_some(proxy)
    }
}

/// Resolve `host:port`; with `checked`, keep only the addresses the policy admits (failing with
/// its verdict when none is left).
async fn resolve(
    host: &str,
    port: u16,
    proxy: bool,
    checked: Option<&HostRules>,
) -> Result<Vec<std::net::SocketAddr>, Failure> {
    let addrs: Vec<std::net::SocketAddr> = match tokio::net::lookup_host((host, port)).await {
        Ok(a) => a.collect(),
        Err(_) => Vec::new(),
    };
    if addrs.is_empty() {
        return Err(if proxy {
            Failure::new(
                FailureKind::ProxyNotFound,
                format!("could not resolve proxy {host}"),
            )
        } else {
            Failure::new(
                FailureKind::HostNotFound,
                format!("could not resolve host {host}"),
            )
        });
    }
    match checked {
        None => Ok(addrs),
        Some(rules) => policy::admit_addresses(rules, host, port, addrs),
    }
}

/// Connect to the first address of `host:port` (as resolved and admitted) that answers.
async fn tcp(host: &str, port: u16, proxy: bool, checked: Option<&HostRules>) -> Result<TcpStream, Failure> {
    let addrs = resolve(host, port, proxy, checked).await?;
    let mut last = None;
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(s) => {
                let _ = s.set_nodelay(true);
                return Ok(s);
            }
            Err(e) => last = Some(e),
        }
    }
    let why = last.map_or_else(|| "no address".to_string(), |e| e.to_string());
    let what = if proxy { "proxy " } else { "" };
    Err(Failure::new(
        FailureKind::ConnectionRefused,
        format!("could not connect to {what}{host} port {port}: {why}"),
    ))
}

/// Ask an HTTP proxy for a tunnel to `target` (`host:port`).
async fn tunnel(stream: &mut TcpStream, target: &str) -> Result<(), Failure> {
    let req = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\nProxy-Connection: Keep-Alive\r\n\r\n");
    let io = |e: std::io::Error| Failure::new(FailureKind::Internal, format!("proxy tunnel failed: {e}"));
    stream.write_all(req.as_bytes()).await.map_err(io)?;
    let mut head = Vec::with_capacity(256);
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() > 16 * 1024 {
            return Err(Failure::new(FailureKind::Internal, "proxy answer too long"));
        }
        let n = stream.read(&mut byte).await.map_err(io)?;
        if n == 0 {
            return Err(Failure::new(
                FailureKind::Internal,
                "proxy closed the tunnel request",
            ));
        }
        head.push(byte[0]);
    }
    let status_ok = head.starts_with(b"HTTP/1.1 200") || head.starts_with(b"HTTP/1.0 200");
    if !status_ok {
        let line = head.split(|&b| b == b'\r').next().unwrap_or_default();
        return Err(Failure::new(
            FailureKind::Internal,
            format!("proxy refused the tunnel: {}", String::from_utf8_lossy(line)),
        ));
    }
    Ok(())
}

/// What is wrong with a server's certificate, in words a script author can act on.
fn certificate_problem(why: &rustls::CertificateError) -> String {
    use rustls::CertificateError as E;
    match why {
        E::UnknownIssuer => "unknown issuer (its CA is not trusted here: the host can add it, e.g. \
             the runner's --ca-file or the module's ca_file)"
            .to_string(),
        E::BadSignature => "bad signature".to_string(),
        E::NotValidForName | E::NotValidForNameContext { .. } => "not valid for this host name".to_string(),
        E::Expired | E::ExpiredContext { .. } => "expired".to_string(),
        E::NotValidYet | E::NotValidYetContext { .. } => "not valid yet".to_string(),
        E::Revoked => "revoked".to_string(),
        E::Other(other) => format!("{other}"),
        other => format!("{other:?}"),
    }
}

fn classify_tls(e: std::io::Error) -> Failure {
    if let Some(inner) = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
        if let rustls::Error::InvalidCertificate(why) = inner {
            return Failure::new(
                FailureKind::Internal,
                format!("certificate verify failed: {}", certificate_problem(why)),
            );
        }
        return Failure::new(FailureKind::TlsConnect, format!("tls handshake failed: {inner}"));
    }
    Failure::new(FailureKind::TlsConnect, format!("tls handshake failed: {e}"))
}

/// Open a connection to `origin` (through `proxy` if given), holding `slot` for as long as the
/// connection lives: an HTTP/1.1 connection is driven by the task of the request using it, an
/// HTTP/2 one by hyper's connection task, started here.
///
/// Under a policy that refuses private addresses or has deny rules, the address connected to
/// is checked (so a DNS answer cannot smuggle one in, and a deny rule naming an address holds
/// for every name of it), and through a proxy the tunnel is opened to an address resolved and
/// checked here, so the proxy cannot be used to reach what the policy refuses.
pub(crate) async fn open(
    tls: &Tls,
    origin: &Origin,
    proxy: Option<&(String, u16)>,
    rules: &HostRules,
    slot: SlotGuard,
) -> Result<Conn, Failure> {
    // Resolved addresses are checked when private ones are refused, or when a deny rule may
    // name one of them.
    let checked = (rules.block_private || !rules.deny.is_empty()).then_some(rules);
    let stream = match proxy {
        Some((phost, pport)) => {
            let target = match checked {
                None => format!("{}:{}", origin.host, origin.port),
                Some(_) if !origin.https && rules.block_private => {
                    return Err(Failure::new(
                        FailureKind::Blocked,
                        "blocked by policy: plain http through a proxy cannot be checked for private addresses",
                    ));
                }
                Some(rules) => {
                    let addrs = resolve(origin.bare_host(), origin.port, false, Some(rules)).await?;
                    if origin.https {
                        addrs.first().map(|a| a.to_string()).unwrap_or_default()
                    } else {
                        // Plain http names its host to the proxy, which resolves it again: the
                        // deny rules were checked on our own answer, as well as can be.
                        format!("{}:{}", origin.host, origin.port)
                    }
                }
            };
            let mut s = tcp(phost, *pport, true, None).await?;
            if origin.https {
                tunnel(&mut s, &target).await?;
            }
            s
        }
        None => tcp(origin.bare_host(), origin.port, false, checked).await?,
    };
    if !origin.https {
        return Ok(Conn::H1(h1::Conn::new(
            Stream::Plain(stream),
            Activity::new(),
            Box::new(slot),
        )));
    }
    let name = ServerName::try_from(origin.bare_host().to_string())
        .map_err(|_| Failure::new(FailureKind::MalformedUrl, "host is not a valid tls server name"))?;
    let tls_stream = tokio_rustls::TlsConnector::from(tls.config())
        .connect(name, stream)
        .await
        .map_err(classify_tls)?;
    if tls_stream.get_ref().1.alpn_protocol() == Some(b"h2".as_slice()) {
        return handshake_h2(tls_stream, slot).await;
    }
    let stream = Stream::Tls(Box::new(tls_stream));
    Ok(Conn::H1(h1::Conn::new(stream, Activity::new(), Box::new(slot))))
}

/// Start HTTP/2 on `io`: hyper's connection driver runs as its own task, holding `slot`.
async fn handshake_h2<T>(io: T, slot: SlotGuard) -> Result<Conn, Failure>
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let activity = Activity::new();
    let io = TokioIo::new(Tracked::new(io, activity.clone()));
    let fail = |e: hyper::Error| Failure::new(FailureKind::Internal, format!("http handshake failed: {e}"));
    let (sender, conn) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
        .handshake::<_, Full<Bytes>>(io)
        .await
        .map_err(fail)?;
    tokio::spawn(async move {
        let _ = conn.await;
        drop(slot);
    });
    Ok(Conn::H2(H2 {
        send: sender,
        activity,
    }))
}
