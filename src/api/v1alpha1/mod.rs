//! Version `v1alpha1` of the `spire-steward.io` API group.

// Repeated `printcolumn(...)` and `validation = ...` arguments are how kube-derive takes lists.
#![allow(clippy::duplicated_attributes)]

mod cluster_federated_trust_domain;
mod cluster_spiffe_id;
mod cluster_static_entry;
mod common;
mod identity_exception;
mod identity_policy;
mod spiffe_id;
mod ttl_status;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

pub use cluster_federated_trust_domain::{
    BundleEndpointProfile, BundleEndpointProfileType, ClusterFederatedTrustDomain, ClusterFederatedTrustDomainSpec,
    ClusterFederatedTrustDomainStatus,
};
pub use cluster_spiffe_id::{ClusterSPIFFEID, ClusterSPIFFEIDSpec, ClusterSPIFFEIDStats, ClusterSPIFFEIDStatus};
pub use cluster_static_entry::{ClusterStaticEntry, ClusterStaticEntrySpec, ClusterStaticEntryStatus};
pub use common::{CommonStatus, DriftPolicy, Owner};
pub use identity_exception::{
    ExceptionRelaxations, ExceptionTarget, IdentityException, IdentityExceptionSpec, IdentityExceptionStatus,
};
pub use identity_policy::{
    Enforcement, IdentityKind, IdentityPolicy, IdentityPolicySpec, IdentityPolicyStatus, JwtBounds, Permission,
    PolicyMatch, PrivilegeRules, SpiffeIdRules, TtlAction, TtlPolicy, X509Bounds,
};
pub use spiffe_id::{SPIFFEID, SPIFFEIDSpec};
pub use ttl_status::{TtlReport, TtlStatus};

/// The API group of every spire-steward resource.
pub const GROUP: &str = "spire-steward.io";
/// The API version this module describes.
pub const VERSION: &str = "v1alpha1";
/// The category every spire-steward resource belongs to (`kubectl get spire-steward`).
pub const CATEGORY: &str = "spire-steward";

/// Every CustomResourceDefinition of this version, in a stable order.
pub fn crds() -> Vec<CustomResourceDefinition> {
    vec![
        ClusterSPIFFEID::crd(),
        SPIFFEID::crd(),
        ClusterStaticEntry::crd(),
        ClusterFederatedTrustDomain::crd(),
        IdentityPolicy::crd(),
        IdentityException::crd(),
    ]
}
