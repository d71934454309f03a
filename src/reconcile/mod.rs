//! The pure core of reconciliation: from declared entries, the entries SPIRE holds and the
//! ownership rules to the changes to make. Nothing here performs I/O.
//!
//! The world is cut into [`Scope`]s that are planned independently: one per pod (every entry that
//! carries the pod's `k8s:pod-uid` selector) and one for everything else. A scope whose inputs
//! are incomplete (a template failed to render, a node is missing) never loses an entry.

mod declaration;
mod federation;
mod hold;
mod index;
mod key;
mod ownership;
mod plan;
mod pod_scope;

pub use declaration::{Declaration, Resolved, Source, SourceKind, resolve};
pub use federation::{DeclaredRelationship, FederationPlan, RelationshipOutcome, plan_federation};
pub use hold::Hold;
pub use index::{Drift, EntryIndex};
pub use key::{EntryKey, Scope};
pub use ownership::{Claim, Ownership};
pub use plan::{Create, Delete, DeleteReason, Plan, Update, differing_fields, plan_scope};
pub use pod_scope::{
    IdentitySource, Missing, NodeState, PodDeclarations, PodOutcome, SourceMeta, SpecError, declare_pod,
};
