//! SPIFFE and SPIRE domain types, parsed and validated once where data enters the operator:
//! IDs, selectors, entries, trust bundles and federation relationships. The wire forms live in
//! [`crate::spire`]; nothing here knows how the values travel.
//!
//! The rules are SPIRE's own (SPIFFE ID syntax, the reserved `/spire` path, selector shape, entry
//! constraints), so a value that passes here is one the SPIRE server accepts. [`differing_fields`]
//! and [`differing_stored_fields`] hold the one definition of when two entries differ.

mod bundle;
mod bundle_json;
mod comparison;
mod entry;
mod error;
mod federation;
mod id;
mod mask;
mod selector;

pub use bundle::{Bundle, JwtKey};
pub use bundle_json::{BundleError, ParsedBundle, parse_bundle};
pub use comparison::{differing_fields, differing_key_fields, differing_stored_fields, same_dns_names};
pub use entry::{Entry, EntryId};
pub use error::Error;
pub use federation::{BundleEndpointProfile, FederationRelationship, RelationshipMask};
pub use id::{SpiffeId, TrustDomain};
pub use mask::{EntryField, EntryMask};
pub use selector::Selector;
