//! The SPIRE Server API client, spoken over the server's admin unix socket.
//!
//! [`SpireClient`] wraps the generated gRPC stubs with deadlines, batching and typed errors, and
//! converts between the wire messages and the validated types of [`crate::spiffe`].

mod bundle;
mod client;
mod convert;
mod entries;
mod error;
mod federation;
mod listing;
pub mod proto;
pub mod tls;
pub mod workload;

pub use client::{CallObserver, ClientConfig, SpireClient, TcpTransport};
pub use entries::{CreateOutcome, EntryFilter, MatchBehavior};
pub use error::{Error, ItemError, ParseError};
pub use listing::{EntryListing, RelationshipListing, Unparsed, UnparsedRelationship};

/// The entry field masks, bundles and federation relationships live beside the other domain
/// types; re-exported for the callers that know them from here.
pub use crate::spiffe::{
    Bundle, BundleEndpointProfile, EntryField, EntryMask, FederationRelationship, JwtKey, RelationshipMask,
};

/// Entries asked for per ListEntries page. SPIRE returns everything in one response when no page
/// size is given, which can exceed the gRPC message limit, so listing always pages.
pub const LIST_PAGE_SIZE: i32 = 200;
/// Entries sent per BatchCreateEntry call.
pub const CREATE_BATCH_SIZE: usize = 50;
/// Entries sent per BatchUpdateEntry call.
pub const UPDATE_BATCH_SIZE: usize = 50;
/// Entry IDs sent per BatchDeleteEntry call.
pub const DELETE_BATCH_SIZE: usize = 200;
/// Federation relationships asked for per ListFederationRelationships page.
pub const RELATIONSHIP_PAGE_SIZE: i32 = 200;
/// Federation relationships sent per batch call.
pub const RELATIONSHIP_BATCH_SIZE: usize = 50;
