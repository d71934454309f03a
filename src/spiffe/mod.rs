//! SPIFFE and SPIRE domain types, parsed and validated once where data enters the operator.
//!
//! The rules are SPIRE's own (SPIFFE ID syntax, the reserved `/spire` path, selector shape, entry
//! constraints), so a value that passes here is one the SPIRE server accepts.

mod bundle_json;
mod entry;
mod error;
mod id;
mod selector;

pub use bundle_json::{BundleError, ParsedBundle, parse_bundle};
pub use entry::{Entry, EntryId};
pub use error::Error;
pub use id::{SpiffeId, TrustDomain};
pub use selector::Selector;
