//! Errors of the SPIRE client layer.

use std::time::Duration;

use tonic::Code;

/// A whole call to the SPIRE server failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The server answered with a gRPC error; the status keeps its code.
    #[error("SPIRE {method} failed with {}: {}", .status.code(), .status.message())]
    Rpc { method: &'static str, status: tonic::Status },
    /// The server refused the operator itself (PermissionDenied or Unauthenticated): its
    /// identity is not an admin of the server.
    #[error(
        "SPIRE {method} denied the operator with {:?}: {} (its SPIFFE ID needs an entry with admin: true, or a place in the server's admin_ids)",
        .status.code(), .status.message()
    )]
    Denied { method: &'static str, status: tonic::Status },
    /// The server could not be reached: no socket, or the connection was refused or dropped.
    #[error("SPIRE {method} could not reach the server: {detail}")]
    Unavailable { method: &'static str, detail: String },
    /// No answer arrived before the call's deadline.
    #[error("SPIRE {method} did not answer within {timeout:?}")]
    DeadlineExceeded { method: &'static str, timeout: Duration },
    /// The server answered with something the client cannot use.
    #[error("SPIRE {method} returned an invalid response: {detail}")]
    InvalidResponse { method: &'static str, detail: String },
}

impl Error {
    /// The gRPC code that best describes the failure.
    pub fn code(&self) -> Code {
        match self {
            Error::Rpc { status, .. } | Error::Denied { status, .. } => status.code(),
            Error::Unavailable { .. } => Code::Unavailable,
            Error::DeadlineExceeded { .. } => Code::DeadlineExceeded,
            Error::InvalidResponse { .. } => Code::Internal,
        }
    }

    /// The RPC that failed, such as `BatchCreateEntry`.
    pub fn method(&self) -> &'static str {
        match self {
            Error::Rpc { method, .. }
            | Error::Denied { method, .. }
            | Error::Unavailable { method, .. }
            | Error::DeadlineExceeded { method, .. }
            | Error::InvalidResponse { method, .. } => method,
        }
    }

    /// Whether the server could not be reached or did not answer in time; such calls are worth
    /// retrying with backoff.
    pub fn is_unavailable(&self) -> bool {
        matches!(self.code(), Code::Unavailable | Code::DeadlineExceeded)
    }
}

/// Why an item SPIRE returned (an entry, a federation relationship) does not convert into the
/// operator's domain types. `field` is the wire field's name.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// A field the item needs is absent.
    #[error("{field} is missing")]
    Missing { field: &'static str },
    /// A field breaks one of the rules of [`crate::spiffe`].
    #[error("{field}: {source}")]
    Invalid {
        field: &'static str,
        #[source]
        source: crate::spiffe::Error,
    },
}

/// One item of a batch call failed; the other items are unaffected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{code:?}: {message}")]
pub struct ItemError {
    pub code: Code,
    pub message: String,
}

/// Reads a per-item status of a batch call: `Ok` for code OK (or no status), the item's error
/// otherwise.
pub(super) fn item_status(status: Option<crate::spire::proto::types::Status>) -> Result<(), ItemError> {
    match status {
        Some(s) if s.code != Code::Ok as i32 => Err(ItemError { code: Code::from_i32(s.code), message: s.message }),
        _ => Ok(()),
    }
}
