//! A request's [`TraceRecord`], sent once to the host's [`crate::Config::trace`] sink: when
//! the transfer ends, when the policy refuses it before it starts (604), or, when the transfer
//! is dropped unfinished (cancelled, also while it waits for its turn under `max_in_flight`),
//! as cancelled. So a host tracing requests sees one record per request.

use crate::config::{TraceRecord, TraceSink};
use crate::spec::RequestSpec;
use crate::state::Outcome;
use std::time::Instant;
use url::Url;

/// The record of one request being traced.
pub(crate) struct Trace {
    sink: TraceSink,
    started: Instant,
    method: String,
    url: String,
    sent: bool,
}

impl Trace {
    /// Start tracing `spec` (when the host has a sink).
    pub(crate) fn start(sink: Option<&TraceSink>, spec: &RequestSpec) -> Option<Trace> {
        let (method, url) = describe(spec);
        sink.map(|sink| Trace {
            sink: sink.clone(),
            started: Instant::now(),
            method,
            url,
            sent: false,
        })
    }

    /// The request ended with `outcome`, having delivered `bytes` over `protocol`.
    pub(crate) fn finish(mut self, outcome: &Outcome, bytes: usize, protocol: Option<&'static str>) {
        let failed = outcome.failure.is_some();
        self.send(
            outcome.status,
            if failed { 0 } else { bytes },
            outcome.failure.as_ref().map(|f| f.reason().to_string()),
            protocol,
        );
    }

    /// Send nothing: another [`Trace`] reports this request.
    pub(crate) fn disarm(mut self) {
        self.sent = true;
    }

    fn send(&mut self, status: u16, bytes: usize, error: Option<String>, protocol: Option<&'static str>) {
        self.sent = true;
        (self.sink)(&TraceRecord {
            method: std::mem::take(&mut self.method),
            url: std::mem::take(&mut self.url),
            status,
            bytes,
            elapsed: self.started.elapsed(),
            error,
            protocol,
        });
    }
}

impl Drop for Trace {
    fn drop(&mut self) {
        if !self.sent {
            self.send(0, 0, Some("cancelled".into()), None);
        }
    }
}

/// Method and URL (without user info) of a request, for tracing.
fn describe(spec: &RequestSpec) -> (String, String) {
    let method = match (&spec.verb, &spec.post) {
        (Some(v), _) if !v.is_empty() => String::from_utf8_lossy(v).into_owned(),
        (_, Some(_)) => "POST".into(),
        _ => "GET".into(),
    };
    let raw = String::from_utf8_lossy(&spec.url).into_owned();
    let url = match Url::parse(&raw) {
        Ok(mut u) => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.to_string()
        }
        Err(_) => raw.escape_debug().to_string(),
    };
    (method, url)
}
