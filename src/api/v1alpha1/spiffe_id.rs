//! `SPIFFEID`: a tenant's identity for the pods of its own namespace.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::{
    ClusterSPIFFEIDSpec, ClusterSPIFFEIDStatus,
    common::DriftPolicy,
    common::{DURATION_BOUND, DURATION_SHAPE, Owner, TRUST_DOMAINS},
};

/// Declares the SPIFFE identity that the pods it selects in its own namespace receive, as a
/// ClusterSPIFFEID does cluster-wide. A namespace's admins and editors may manage SPIFFEIDs.
/// Without a policy, the identity is confined: it must render under
/// `spiffe://<trust domain>/ns/<its namespace>/`, and `admin`, `downstream` and `federatesWith`
/// are refused. A ClusterSPIFFEID declaring the same entry takes precedence.
#[derive(CustomResource, Clone, Debug, Default, Deserialize, Serialize, PartialEq, KubeSchema)]
#[kube(
    group = "spire-steward.io",
    version = "v1alpha1",
    kind = "SPIFFEID",
    plural = "spiffeids",
    singular = "spiffeid",
    shortname = "sid",
    namespaced,
    category = "spire-steward",
    status = "ClusterSPIFFEIDStatus",
    derive = "PartialEq",
    derive = "Default",
    doc = "SPIFFEID declares the SPIFFE identity of the pods it selects in its own namespace.",
    printcolumn(name = "Ready", type_ = "string", json_path = r#".status.conditions[?(@.type=="Ready")].status"#),
    printcolumn(name = "Reason", type_ = "string", json_path = r#".status.conditions[?(@.type=="Ready")].reason"#),
    printcolumn(name = "SPIFFE ID", type_ = "string", json_path = ".spec.spiffeIDTemplate"),
    printcolumn(name = "Owner", type_ = "string", json_path = ".spec.owner.team"),
    printcolumn(name = "Entries", type_ = "integer", json_path = ".status.stats.entriesToSet"),
    printcolumn(name = "Pods", type_ = "integer", json_path = ".status.stats.podsSelected", priority = 1),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
pub struct SPIFFEIDSpec {
    /// Go text/template that renders the SPIFFE ID of each selected pod, for example
    /// `spiffe://{{ .TrustDomain }}/ns/{{ .PodMeta.Namespace }}/sa/{{ .PodSpec.ServiceAccountName }}`.
    /// It must render into the operator's trust domain, under `/ns/<this namespace>/` unless an
    /// IdentityPolicy for SPIFFEIDs says otherwise. Available data: TrustDomain, ClusterName,
    /// ClusterDomain, PodMeta, PodSpec, NodeMeta and NodeSpec (Go field names).
    #[serde(rename = "spiffeIDTemplate")]
    #[schemars(length(min = 1, max = 2048))]
    #[x_kube(validation = Rule::new("self.startsWith('spiffe://')").message("spiffeIDTemplate must start with spiffe://"))]
    pub spiffe_id_template: String,

    /// Lifetime of the X509-SVIDs issued for the entry, as a duration such as `1h` or `90m`.
    /// Unset or `0` uses the SPIRE server's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    #[x_kube(
        validation = Rule::new(DURATION_SHAPE).message("ttl must be a non-negative duration such as 90s, 30m or 1h"),
        validation = Rule::new(DURATION_BOUND).message("ttl must be at most 596523h (SPIRE stores TTLs as 32-bit seconds)")
    )]
    pub ttl: Option<String>,

    /// Lifetime of the JWT-SVIDs issued for the entry, as a duration such as `5m`. Unset or `0`
    /// uses the SPIRE server's default.
    #[serde(default, rename = "jwtTtl", skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    #[x_kube(
        validation = Rule::new(DURATION_SHAPE).message("jwtTtl must be a non-negative duration such as 90s, 30m or 1h"),
        validation = Rule::new(DURATION_BOUND).message("jwtTtl must be at most 596523h (SPIRE stores TTLs as 32-bit seconds)")
    )]
    pub jwt_ttl: Option<String>,

    /// Go text/templates, each rendering one DNS name for the X509-SVID. Rendered in order;
    /// duplicates are dropped.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64), inner(length(max = 1024)))]
    pub dns_name_templates: Vec<String>,

    /// Go text/templates, each rendering one workload selector `type:value`. They are added after
    /// the `k8s:pod-uid:<uid>` selector every pod entry carries.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64), inner(length(max = 1024)))]
    #[x_kube(validation = Rule::new("self.all(t, t.contains(':'))").message("each workloadSelectorTemplate must render a selector of the form type:value"))]
    pub workload_selector_templates: Vec<String>,

    /// Names of the trust domains the entry federates with, such as `backend.example.com`.
    /// Refused unless an IdentityPolicy or IdentityException allows the domain.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64), inner(length(max = 264)))]
    #[x_kube(validation = Rule::new(TRUST_DOMAINS).message("each federatesWith item must be a trust domain name: lowercase letters, digits, '.', '-' and '_'"))]
    pub federates_with: Vec<String>,

    /// Selects the pods of this namespace that receive the identity. Unset selects every pod of
    /// the namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_selector: Option<LabelSelector>,

    /// Marks the entries as admin: their SVIDs may call the SPIRE server's admin APIs. Refused
    /// unless an IdentityPolicy or IdentityException allows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin: Option<bool>,

    /// Marks the entries as downstream SPIRE servers. Refused unless an IdentityPolicy or
    /// IdentityException allows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub downstream: Option<bool>,

    /// Adds the DNS names of the Services whose EndpointSlices point at the pod.
    #[serde(default, rename = "autoPopulateDNSNames", skip_serializing_if = "Option::is_none")]
    pub auto_populate_dns_names: Option<bool>,

    /// The operator class that handles this resource. Unset is handled by an operator configured
    /// to watch classless resources.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253))]
    pub class_name: Option<String>,

    /// Applies only to pods that receive no entry from any non-fallback ClusterSPIFFEID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<bool>,

    /// Copied verbatim into the entries' hint, which tells workloads apart when several
    /// identities match them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub hint: Option<String>,

    /// The team accountable for this identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<Owner>,

    /// Stops reconciling this resource: its entries stay as they are until it is resumed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspend: Option<bool>,

    /// What happens when SPIRE's entries for this resource drift from what it declares (edited
    /// or deleted behind the operator's back): `Enforce` repairs them, `Report` only records the
    /// drift in a `Drifted` condition and a Warning Event. Unset follows the operator's
    /// `driftPolicy` setting. Drift never changes the `Ready` condition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift_policy: Option<DriftPolicy>,
}

impl SPIFFEIDSpec {
    /// The same identity as a ClusterSPIFFEID selecting every namespace: what renders it. Which
    /// namespace it may select is the caller's matter.
    pub fn as_cluster_spec(&self) -> ClusterSPIFFEIDSpec {
        ClusterSPIFFEIDSpec {
            spiffe_id_template: self.spiffe_id_template.clone(),
            ttl: self.ttl.clone(),
            jwt_ttl: self.jwt_ttl.clone(),
            dns_name_templates: self.dns_name_templates.clone(),
            workload_selector_templates: self.workload_selector_templates.clone(),
            federates_with: self.federates_with.clone(),
            pod_selector: self.pod_selector.clone(),
            admin: self.admin,
            downstream: self.downstream,
            auto_populate_dns_names: self.auto_populate_dns_names,
            class_name: self.class_name.clone(),
            fallback: self.fallback,
            hint: self.hint.clone(),
            owner: self.owner.clone(),
            suspend: self.suspend,
            namespace_selector: None,
            drift_policy: self.drift_policy,
        }
    }
}
