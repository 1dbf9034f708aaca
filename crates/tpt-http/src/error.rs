//! [`Error`], the one error type of the crate's host-facing calls (building a client,
//! installing the API). It names no dependency's type: the cause, when there is one, is boxed as
//! its `source()`, so the engine's errors carry nothing of Lua.

use std::fmt;

/// The error type of this crate's host-facing calls (building a client, installing the API).
#[derive(Debug)]
pub struct Error {
    kind: ErrorKind,
    message: String,
    source: Option<Box<dyn std::error::Error + 'static>>,
}

/// What kind of [`Error`] happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The [`Config`](crate::Config) cannot be used (bad CA PEM, bad proxy URL).
    Config,
    /// The Lua state refused an operation (out of memory).
    Lua,
}

impl Error {
    pub(crate) fn config(message: impl Into<String>) -> Error {
        Error {
            kind: ErrorKind::Config,
            message: message.into(),
            source: None,
        }
    }

    /// A Lua error, kept as the source.
    pub(crate) fn lua(source: impl std::error::Error + 'static) -> Error {
        Error {
            kind: ErrorKind::Lua,
            message: "lua error".into(),
            source: Some(Box::new(source)),
        }
    }

    /// What kind of error this is.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}
