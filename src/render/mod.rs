//! Rendering: from a resource's spec (and, for pod identities, the pod and its node) to the
//! entries it declares. Pure: everything it needs is passed in.

mod dns;
mod federation;
mod pod_entry;
mod static_entry;

pub use dns::{merge_dns_names, service_dns_names};
pub use federation::render_federation;
pub use pod_entry::{PodContext, PodIdentity};
pub use static_entry::render_static_entry;

/// Why a resource's spec cannot be turned into an entry. The message is written to the
/// resource's status, so it names the field and what to do.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("{field}: {source}")]
    Value { field: &'static str, source: crate::spiffe::Error },
    #[error("{field}: {source}")]
    Duration { field: &'static str, source: crate::duration::Error },
    #[error("{field}: {message}")]
    Invalid { field: &'static str, message: String },
    #[error("{field}: {source}")]
    Template { field: &'static str, source: crate::template::TemplateError },
    /// A template rendered text that is not a SPIFFE ID; the text is shown, since different
    /// mistakes (a missing label, a nil pointer) otherwise read the same.
    #[error("{field}: rendered SPIFFE ID {rendered:?} is invalid: {}", .source.id_problem())]
    RenderedId { field: &'static str, rendered: String, source: crate::spiffe::Error },
}
