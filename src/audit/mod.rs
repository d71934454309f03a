//! Audit evidence: one JSON record for every SPIRE write (done, refused, observed or held),
//! every denial or clamp by a policy, every exception's activation, warning and lapse, every
//! drift and every held or confirmed deletion.
//!
//! Records are built from what the pass planned and what SPIRE answered; nothing secret is in
//! them (entries carry no key material).

mod record;
mod sink;
mod trail;

pub use record::{Action, Failure, Outcome, Owner, Reason, Record, Resource, SCHEMA_VERSION, kind_name};
pub use sink::{AuditFile, Destination, OpenError, SettingError, Sink};
pub use trail::{Attribution, Decisions, Pending, ScopeFacts, decisions, planned, settle, withheld};
