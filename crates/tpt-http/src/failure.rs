//! Why a request failed, and the TPT status code (600-621) that a script sees for it.
//!
//! This module owns the one mapping from failure kinds to TPT's non-standard status codes
//! ([`FailureKind::code`]). It knows nothing of Lua or of sockets: the engine classifies what went
//! wrong into a [`FailureKind`], and the binding only ever reports the number.

use std::fmt;

/// The class of a transport failure. Each maps to exactly one TPT status code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FailureKind {
    /// Anything not listed below: a reset connection, an empty reply, a truncated body, an HTTP/2
    /// error, a certificate that does not verify, a response status of 600 or more (600).
    Internal,
    /// A scheme other than https while HTTPS is enforced, or a scheme the client cannot speak (601).
    UnsupportedProtocol,
    /// The host name does not resolve (602).
    HostNotFound,
    /// Networking is disabled by the host's policy (604).
    NetworkDisabled,
    /// A configured timeout expired (605).
    TimedOut,
    /// The URL cannot be parsed (606).
    MalformedUrl,
    /// The TCP connection could not be made (607).
    ConnectionRefused,
    /// The proxy's host name does not resolve (608).
    ProxyNotFound,
    /// More than the allowed number of redirects (611).
    TooManyRedirects,
    /// The TLS handshake failed for a reason other than certificate verification (612).
    TlsConnect,
    /// The extra CA file could not be loaded (618).
    CaFile,
    /// The host's policy refused the host or address (607: the connection was refused, by us).
    Blocked,
    /// The response, or the request a script asked for, is larger than the policy allows (600).
    TooLarge,
}

impl FailureKind {
    /// The status code TPT reports for this kind of failure.
    pub fn code(self) -> u16 {
        match self {
            FailureKind::Internal => 600,
            FailureKind::UnsupportedProtocol => 601,
            FailureKind::HostNotFound => 602,
            FailureKind::NetworkDisabled => 604,
            FailureKind::TimedOut => 605,
            FailureKind::MalformedUrl => 606,
            FailureKind::ConnectionRefused => 607,
            FailureKind::ProxyNotFound => 608,
            FailureKind::TooManyRedirects => 611,
            FailureKind::TlsConnect => 612,
            FailureKind::CaFile => 618,
            FailureKind::Blocked => 607,
            FailureKind::TooLarge => 600,
        }
    }
}

/// A failed transfer: its kind and a short human-readable reason (never containing a header value).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    kind: FailureKind,
    reason: String,
    /// The response headers TPT's callback had listed when the transfer failed (a head cut or
    /// refused part way), handed on to the script with the failure.
    headers: Option<Vec<(Vec<u8>, Vec<u8>)>>,
}

impl Failure {
    /// A failure of `kind` with a lower-case reason, e.g. `"connection refused"`.
    pub fn new(kind: FailureKind, reason: impl Into<String>) -> Failure {
        Failure {
            kind,
            reason: reason.into(),
            headers: None,
        }
    }

    /// The failure's class.
    pub fn kind(&self) -> FailureKind {
        self.kind
    }

    /// The TPT status code for this failure.
    pub fn code(&self) -> u16 {
        self.kind.code()
    }

    /// The human-readable reason.
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// The same failure, carrying the headers listed before it.
    pub(crate) fn with_headers(mut self, headers: Vec<(Vec<u8>, Vec<u8>)>) -> Failure {
        self.headers = Some(headers);
        self
    }

    /// The headers listed before the failure (moved out), if it carries them.
    pub(crate) fn take_headers(&mut self) -> Option<Vec<(Vec<u8>, Vec<u8>)>> {
        self.headers.take()
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.reason, self.code())
    }
}

impl std::error::Error for Failure {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_gives_reason_and_code() {
        let f = Failure::new(FailureKind::TooLarge, "response larger than 10 bytes");
        assert_eq!(f.to_string(), "response larger than 10 bytes (600)");
    }

    /// The whole failure-to-status table, as spec section 3 gives it.
    #[test]
    fn failure_kinds_map_to_tpt_codes() {
        let table = [
            (FailureKind::Internal, 600),
            (FailureKind::UnsupportedProtocol, 601),
            (FailureKind::HostNotFound, 602),
            (FailureKind::NetworkDisabled, 604),
            (FailureKind::TimedOut, 605),
            (FailureKind::MalformedUrl, 606),
            (FailureKind::ConnectionRefused, 607),
            (FailureKind::ProxyNotFound, 608),
            (FailureKind::TooManyRedirects, 611),
            (FailureKind::TlsConnect, 612),
            (FailureKind::CaFile, 618),
            (FailureKind::Blocked, 607),
            (FailureKind::TooLarge, 600),
        ];
        for (kind, code) in table {
            assert_eq!(kind.code(), code, "{kind:?}");
            assert_eq!(Failure::new(kind, "x").code(), code);
        }
    }
}
