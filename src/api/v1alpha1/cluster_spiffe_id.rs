//! `ClusterSPIFFEID`: one SPIFFE identity, rendered from templates, for every pod it selects.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::common::{CommonStatus, DURATION_BOUND, DURATION_SHAPE, DriftPolicy, Owner, TRUST_DOMAINS};

/// Declares the SPIFFE identity that the pods it selects receive. spire-steward creates one SPIRE
/// registration entry per selected pod and removes it when the pod goes away. Field names and
/// meanings match spire-controller-manager's ClusterSPIFFEID.
#[derive(CustomResource, Clone, Debug, Default, Deserialize, Serialize, PartialEq, KubeSchema)]
#[kube(
    group = "spire-steward.io",
    version = "v1alpha1",
    kind = "ClusterSPIFFEID",
    plural = "clusterspiffeids",
    singular = "clusterspiffeid",
    shortname = "csid",
    category = "spire-steward",
    status = "ClusterSPIFFEIDStatus",
    derive = "PartialEq",
    derive = "Default",
    doc = "ClusterSPIFFEID declares the SPIFFE identity of the pods it selects, as templates rendered per pod into SPIRE registration entries.",
    printcolumn(name = "Ready", type_ = "string", json_path = r#".status.conditions[?(@.type=="Ready")].status"#),
    printcolumn(name = "Reason", type_ = "string", json_path = r#".status.conditions[?(@.type=="Ready")].reason"#),
    printcolumn(name = "SPIFFE ID", type_ = "string", json_path = ".spec.spiffeIDTemplate"),
    printcolumn(name = "Owner", type_ = "string", json_path = ".spec.owner.team"),
    printcolumn(name = "Entries", type_ = "integer", json_path = ".status.stats.entriesToSet"),
    printcolumn(name = "Pods", type_ = "integer", json_path = ".status.stats.podsSelected", priority = 1),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
pub struct ClusterSPIFFEIDSpec {
    /// Go text/template that renders the SPIFFE ID of each selected pod, for example
    /// `spiffe://{{ .TrustDomain }}/ns/{{ .PodMeta.Namespace }}/sa/{{ .PodSpec.ServiceAccountName }}`.
    /// It must render into the operator's trust domain. Available data: TrustDomain, ClusterName,
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
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64), inner(length(max = 264)))]
    #[x_kube(validation = Rule::new(TRUST_DOMAINS).message("each federatesWith item must be a trust domain name: lowercase letters, digits, '.', '-' and '_'"))]
    pub federates_with: Vec<String>,

    /// Selects the namespaces whose pods receive the identity. Unset selects every namespace
    /// that the operator does not ignore.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<LabelSelector>,

    /// Selects the pods that receive the identity. Unset selects every pod of the selected
    /// namespaces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_selector: Option<LabelSelector>,

    /// Marks the entries as admin: their SVIDs may call the SPIRE server's admin APIs. A
    /// privileged setting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin: Option<bool>,

    /// Marks the entries as downstream SPIRE servers. A privileged setting.
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

/// Counters from the latest reconciliation, named as in spire-controller-manager.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterSPIFFEIDStats {
    /// Namespaces matched by namespaceSelector.
    #[serde(default)]
    pub namespaces_selected: i32,
    /// Selected namespaces skipped because the operator ignores them.
    #[serde(default)]
    pub namespaces_ignored: i32,
    /// Pods matched in the selected namespaces.
    #[serde(default)]
    pub pods_selected: i32,
    /// Pods whose entry could not be rendered from the templates.
    #[serde(default)]
    pub pod_entry_render_failures: i32,
    /// Entries not written because another resource declares the same entry and wins.
    #[serde(default)]
    pub entries_masked: i32,
    /// Entries this resource declares.
    #[serde(default)]
    pub entries_to_set: i32,
    /// Entries SPIRE refused to create or update.
    #[serde(default)]
    pub entry_failures: i32,
    /// Entries an enforced IdentityPolicy denies: not written, and removed if they existed.
    #[serde(default)]
    pub entries_denied: i32,
    /// Entries whose TTL a policy bound sets.
    #[serde(default)]
    pub entries_clamped: i32,
    /// Entries written although they break an IdentityPolicy in Audit mode.
    #[serde(default)]
    pub policy_violations: i32,
}

/// The observed state of a ClusterSPIFFEID.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterSPIFFEIDStatus {
    #[serde(flatten)]
    pub common: CommonStatus,
    /// Counters from the latest reconciliation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stats: Option<ClusterSPIFFEIDStats>,
    /// The SVID lifetimes written, when a policy governs the entries (of the first governed entry
    /// whose lifetime a bound sets, else of the first governed entry).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<super::TtlStatus>,
}
