//! `ClusterStaticEntry`: one literal SPIRE registration entry.

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::common::{
    CommonStatus, DURATION_BOUND, DURATION_SHAPE, DriftPolicy, EXPIRES_AT_NOT_INSTANT, INSTANT_SHAPE, Owner,
    SPIFFE_ID_NOT_RESERVED, SPIFFE_ID_SHAPE, TRUST_DOMAINS,
};

/// Declares one registration entry exactly as written, for workloads outside the cluster, node
/// aliases or downstream SPIRE servers. Field names and meanings match spire-controller-manager's
/// ClusterStaticEntry.
#[derive(CustomResource, Clone, Debug, Default, Deserialize, Serialize, PartialEq, KubeSchema)]
#[kube(
    group = "spire-steward.io",
    version = "v1alpha1",
    kind = "ClusterStaticEntry",
    plural = "clusterstaticentries",
    singular = "clusterstaticentry",
    shortname = "cse",
    category = "spire-steward",
    status = "ClusterStaticEntryStatus",
    derive = "PartialEq",
    derive = "Default",
    doc = "ClusterStaticEntry declares one SPIRE registration entry literally.",
    printcolumn(name = "Ready", type_ = "string", json_path = r#".status.conditions[?(@.type=="Ready")].status"#),
    printcolumn(name = "Reason", type_ = "string", json_path = r#".status.conditions[?(@.type=="Ready")].reason"#),
    printcolumn(name = "SPIFFE ID", type_ = "string", json_path = ".spec.spiffeID"),
    printcolumn(name = "Owner", type_ = "string", json_path = ".spec.owner.team"),
    printcolumn(name = "Entry ID", type_ = "string", json_path = ".status.entryID", priority = 1),
    printcolumn(name = "Parent ID", type_ = "string", json_path = ".spec.parentID", priority = 1),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
pub struct ClusterStaticEntrySpec {
    /// The SPIFFE ID the entry issues, such as `spiffe://example.org/billing/db`. The path must be
    /// non-empty and outside SPIRE's reserved `/spire` path.
    #[serde(rename = "spiffeID")]
    #[schemars(length(min = 1, max = 2048))]
    #[x_kube(
        validation = Rule::new(SPIFFE_ID_SHAPE).message("spiffeID must be a SPIFFE ID of the form spiffe://<trust domain>/<path>"),
        validation = Rule::new(SPIFFE_ID_NOT_RESERVED).message("spiffeID must not be under the reserved /spire path")
    )]
    pub spiffe_id: String,

    /// The SPIFFE ID of the agent or entry allowed to obtain this identity, such as
    /// `spiffe://example.org/spire/agent/k8s_psat/prod/<node uid>`.
    #[serde(rename = "parentID")]
    #[schemars(length(min = 1, max = 2048))]
    #[x_kube(validation = Rule::new(SPIFFE_ID_SHAPE).message("parentID must be a SPIFFE ID of the form spiffe://<trust domain>/<path>"))]
    pub parent_id: String,

    /// Workload selectors, each `type:value` such as `unix:uid:1000` or `k8s:ns:billing`.
    #[schemars(length(min = 1, max = 64), inner(length(max = 1024)))]
    #[x_kube(validation = Rule::new("self.all(s, s.matches('^[^:]+:.+$'))").message("each selector must be of the form type:value with a non-empty type and value"))]
    pub selectors: Vec<String>,

    /// Names of the trust domains the entry federates with.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64), inner(length(max = 264)))]
    #[x_kube(validation = Rule::new(TRUST_DOMAINS).message("each federatesWith item must be a trust domain name: lowercase letters, digits, '.', '-' and '_'"))]
    pub federates_with: Vec<String>,

    /// Lifetime of the X509-SVIDs, as a duration such as `1h`. Unset or `0` uses the server default.
    #[serde(default, rename = "x509SVIDTTL", skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    #[x_kube(
        validation = Rule::new(DURATION_SHAPE).message("x509SVIDTTL must be a non-negative duration such as 90s, 30m or 1h"),
        validation = Rule::new(DURATION_BOUND).message("x509SVIDTTL must be at most 596523h (SPIRE stores TTLs as 32-bit seconds)")
    )]
    pub x509_svid_ttl: Option<String>,

    /// Lifetime of the JWT-SVIDs, as a duration such as `5m`. Unset or `0` uses the server default.
    #[serde(default, rename = "jwtSVIDTTL", skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    #[x_kube(
        validation = Rule::new(DURATION_SHAPE).message("jwtSVIDTTL must be a non-negative duration such as 90s, 30m or 1h"),
        validation = Rule::new(DURATION_BOUND).message("jwtSVIDTTL must be at most 596523h (SPIRE stores TTLs as 32-bit seconds)")
    )]
    pub jwt_svid_ttl: Option<String>,

    /// DNS names for the X509-SVID.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64), inner(length(max = 253)))]
    pub dns_names: Vec<String>,

    /// Tells workloads apart when several identities match them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub hint: Option<String>,

    /// Marks the entry as admin: its SVIDs may call the SPIRE server's admin APIs. A privileged
    /// setting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin: Option<bool>,

    /// Marks the entry as a downstream SPIRE server. A privileged setting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub downstream: Option<bool>,

    /// Has SPIRE agents store the SVID through their SVIDStore plugins instead of serving it to
    /// a workload. All selectors must then share one type.
    #[serde(default, rename = "storeSVID", skip_serializing_if = "Option::is_none")]
    pub store_svid: Option<bool>,

    /// The operator class that handles this resource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253))]
    pub class_name: Option<String>,

    /// The team accountable for this identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<Owner>,

    /// The instant the entry lapses, in whole seconds of RFC 3339 with a time zone, such as
    /// `2027-01-31T18:00:00Z`: the operator removes the entry at that instant. It is also written
    /// to the SPIRE entry's own expiry, so SPIRE prunes it even while the operator is down.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    #[x_kube(
        validation = Rule::new(INSTANT_SHAPE).message(Message::Expression(EXPIRES_AT_NOT_INSTANT.into())),
        validation = Rule::new("!self.matches('[.][0-9]+')").message(Message::Expression(
            "'expiresAt ' + strings.quote(self) + ' has a fraction of a second: SPIRE stores entry expiry in whole seconds'".into()
        ))
    )]
    pub expires_at: Option<String>,

    /// What happens when SPIRE's entries for this resource drift from what it declares (edited
    /// or deleted behind the operator's back): `Enforce` repairs them, `Report` only records the
    /// drift in a `Drifted` condition and a Warning Event. Unset follows the operator's
    /// `driftPolicy` setting. Drift never changes the `Ready` condition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift_policy: Option<DriftPolicy>,
}

/// The observed state of a ClusterStaticEntry.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterStaticEntryStatus {
    #[serde(flatten)]
    pub common: CommonStatus,
    /// The spec was turned into an entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rendered: Option<bool>,
    /// Another resource declares the same entry and takes precedence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub masked: Option<bool>,
    /// The entry is in SPIRE as declared, as of the operator's last write to it or its last periodic
    /// check of SPIRE (`gcInterval`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set: Option<bool>,
    /// The ID of the SPIRE entry that realises this resource.
    #[serde(default, rename = "entryID", skip_serializing_if = "Option::is_none")]
    pub entry_id: Option<String>,
    /// The SVID lifetimes written, when a policy governs the entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<super::TtlStatus>,
}
