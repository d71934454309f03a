//! `ClusterFederatedTrustDomain`: a federation relationship with a foreign trust domain.

use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{CommonStatus, SPIFFE_ID_SHAPE};

/// Declares that SPIRE federates with a foreign trust domain and where it fetches that domain's
/// bundle. Field names and meanings match spire-controller-manager's ClusterFederatedTrustDomain.
#[derive(CustomResource, Clone, Debug, Default, Deserialize, Serialize, PartialEq, KubeSchema)]
#[kube(
    group = "spire-steward.io",
    version = "v1alpha1",
    kind = "ClusterFederatedTrustDomain",
    plural = "clusterfederatedtrustdomains",
    singular = "clusterfederatedtrustdomain",
    shortname = "cftd",
    category = "spire-steward",
    status = "ClusterFederatedTrustDomainStatus",
    derive = "PartialEq",
    derive = "Default",
    doc = "ClusterFederatedTrustDomain declares a SPIRE federation relationship with a foreign trust domain.",
    printcolumn(name = "Ready", type_ = "string", json_path = r#".status.conditions[?(@.type=="Ready")].status"#),
    printcolumn(name = "Reason", type_ = "string", json_path = r#".status.conditions[?(@.type=="Ready")].reason"#),
    printcolumn(name = "Trust Domain", type_ = "string", json_path = ".spec.trustDomain"),
    printcolumn(name = "Endpoint URL", type_ = "string", json_path = ".spec.bundleEndpointURL", priority = 1),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
pub struct ClusterFederatedTrustDomainSpec {
    /// The foreign trust domain's name, such as `backend.example.com`.
    #[schemars(length(min = 1, max = 255))]
    #[x_kube(validation = Rule::new("self.matches('^[a-z0-9._-]+$')").message("trustDomain must contain only lowercase letters, digits, '.', '-' and '_'"))]
    pub trust_domain: String,

    /// The https URL of the foreign trust domain's SPIFFE bundle endpoint.
    #[serde(rename = "bundleEndpointURL")]
    #[schemars(length(min = 1, max = 2048))]
    #[x_kube(validation = Rule::new("isURL(self) && url(self).getScheme() == 'https' && url(self).getHostname() != '' && !self.contains('@')").message("bundleEndpointURL must be an https URL with a host and no user info"))]
    pub bundle_endpoint_url: String,

    /// How SPIRE authenticates the bundle endpoint.
    pub bundle_endpoint_profile: BundleEndpointProfile,

    /// The foreign trust domain's current bundle, as SPIFFE bundle (JWKS) JSON. Needed to
    /// bootstrap an `https_spiffe` endpoint that serves its own trust domain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1048576))]
    pub trust_domain_bundle: Option<String>,

    /// The operator class that handles this resource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253))]
    pub class_name: Option<String>,
}

/// How SPIRE authenticates a bundle endpoint.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("self.type != 'https_spiffe' || has(self.endpointSPIFFEID)").message("endpointSPIFFEID is required when type is https_spiffe"),
    validation = Rule::new("self.type != 'https_web' || !has(self.endpointSPIFFEID)").message("endpointSPIFFEID must not be set when type is https_web")
)]
pub struct BundleEndpointProfile {
    /// `https_web` authenticates the endpoint with Web PKI; `https_spiffe` with the SPIFFE ID
    /// given in endpointSPIFFEID.
    #[serde(rename = "type")]
    pub profile_type: BundleEndpointProfileType,

    /// The SPIFFE ID the bundle endpoint presents. Required for `https_spiffe`, forbidden for
    /// `https_web`.
    #[serde(default, rename = "endpointSPIFFEID", skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048))]
    #[x_kube(validation = Rule::new(SPIFFE_ID_SHAPE).message("endpointSPIFFEID must be a SPIFFE ID of the form spiffe://<trust domain>/<path>"))]
    pub endpoint_spiffe_id: Option<String>,
}

/// The bundle endpoint profile.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq, JsonSchema)]
pub enum BundleEndpointProfileType {
    /// Web PKI.
    #[default]
    #[serde(rename = "https_web")]
    HttpsWeb,
    /// SPIFFE authentication.
    #[serde(rename = "https_spiffe")]
    HttpsSpiffe,
}

/// The observed state of a ClusterFederatedTrustDomain.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterFederatedTrustDomainStatus {
    #[serde(flatten)]
    pub common: CommonStatus,
}
