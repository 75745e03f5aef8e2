//! The error every request can resolve to.

use std::fmt;
use std::io;
use std::sync::Arc;

use bytes::Bytes;
use valuetask::Abandoned;

use crate::resp::{EncodeError, ProtocolError, Value};

/// Why a request failed.
///
/// Only [`Error::Server`], [`Error::UnexpectedReply`] and [`Error::InvalidCommand`]
/// concern one request alone; the others mean the connection is gone, and every request
/// made on it from then on fails at once with the same error.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Error {
    /// The server answered this request with an error reply (`-ERR ...`).
    Server(ServerError),
    /// The reply's type does not fit the command (e.g. `GET` answered with an integer).
    UnexpectedReply(Value),
    /// The command could not be encoded; nothing was sent.
    InvalidCommand(EncodeError),
    /// Reading from or writing to the connection failed.
    Io(Arc<io::Error>),
    /// The server sent bytes that are not RESP2; the client closed the connection.
    Protocol(ProtocolError),
    /// The connection is closed: the server closed it, or every [`Client`](crate::Client)
    /// handle was dropped.
    Closed,
    /// The connection's task went away without answering (its runtime shut down).
    Abandoned,
}

impl Error {
    /// Whether the connection is gone (every later request fails too), as opposed to an
    /// error that concerns this request only.
    pub fn is_connection_error(&self) -> bool {
        matches!(
            self,
            Error::Io(_) | Error::Protocol(_) | Error::Closed | Error::Abandoned
        )
    }
}

impl From<Abandoned> for Error {
    fn from(_: Abandoned) -> Self {
        Error::Abandoned
    }
}

impl From<io::Error> for Error {
    fn from(error: io::Error) -> Self {
        Error::Io(Arc::new(error))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Server(e) => e.fmt(f),
            Error::UnexpectedReply(v) => write!(f, "unexpected reply from the server: {v:?}"),
            Error::InvalidCommand(e) => e.fmt(f),
            Error::Io(e) => write!(f, "connection failed: {e}"),
            Error::Protocol(e) => e.fmt(f),
            Error::Closed => f.write_str("the connection is closed"),
            Error::Abandoned => f.write_str("the connection's task stopped without answering"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Server(e) => Some(e),
            Error::InvalidCommand(e) => Some(e),
            Error::Io(e) => Some(&**e),
            Error::Protocol(e) => Some(e),
            _ => None,
        }
    }
}

/// An error reply from the server, such as `ERR unknown command` or `WRONGTYPE ...`.
#[derive(Clone, PartialEq, Eq)]
pub struct ServerError(pub(crate) Bytes);

impl ServerError {
    /// The whole message, as the server sent it (without the leading `-`).
    pub fn message(&self) -> &[u8] {
        &self.0
    }

    /// The error's code: the message's first word (`ERR`, `WRONGTYPE`, ...).
    pub fn code(&self) -> &[u8] {
        let end = self
            .0
            .iter()
            .position(|&b| b == b' ')
            .unwrap_or(self.0.len());
        &self.0[..end]
    }
}

impl fmt::Debug for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ServerError")
            .field(&String::from_utf8_lossy(&self.0))
            .finish()
    }
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "server error: {}", String::from_utf8_lossy(&self.0))
    }
}

impl std::error::Error for ServerError {}
