//! Federation relationships: SPIRE trusting a foreign trust domain and fetching its bundle.

use super::{Bundle, SpiffeId, TrustDomain};

/// How SPIRE authenticates a foreign bundle endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BundleEndpointProfile {
    /// Web PKI.
    HttpsWeb,
    /// SPIFFE authentication: the endpoint presents this SPIFFE ID.
    HttpsSpiffe {
        /// The SPIFFE ID the endpoint's SVID must carry.
        endpoint_spiffe_id: SpiffeId,
    },
}

/// SPIRE federates with `trust_domain`, fetching its bundle from `bundle_endpoint_url`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FederationRelationship {
    /// The foreign trust domain.
    pub trust_domain: TrustDomain,
    /// Where SPIRE fetches the foreign bundle from.
    pub bundle_endpoint_url: String,
    /// How SPIRE authenticates the bundle endpoint.
    pub profile: BundleEndpointProfile,
    /// On write, a bundle to start from; on read, the latest bundle SPIRE holds.
    pub trust_domain_bundle: Option<Bundle>,
}

/// The fields a relationship update writes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RelationshipMask {
    /// Write [`FederationRelationship::bundle_endpoint_url`].
    pub bundle_endpoint_url: bool,
    /// Write [`FederationRelationship::profile`].
    pub bundle_endpoint_profile: bool,
    /// Write [`FederationRelationship::trust_domain_bundle`].
    pub trust_domain_bundle: bool,
}

impl RelationshipMask {
    /// A mask that writes every field.
    pub fn all() -> Self {
        Self { bundle_endpoint_url: true, bundle_endpoint_profile: true, trust_domain_bundle: true }
    }
}
