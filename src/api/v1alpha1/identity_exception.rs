//! `IdentityException`: named relaxations of the policies for one identity, until an instant.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::{
    common::{CommonStatus, EXPIRES_AT_NOT_INSTANT, INSTANT_SHAPE},
    identity_policy::{
        IdentityKind, duration_shape, patterns_known_placeholders, patterns_shape, trust_domains, ttl_bound,
    },
};

/// The fields of the spec that differ from the stored spec's, as a CEL string such as
/// `expiresAt from "2027-01-31T18:00:00Z" to "2027-03-31T18:00:00Z", ticket`. (A list
/// joined by `join()` would have no cost bound the API server accepts.)
const CHANGED_FIELDS: &str = "((self.target != oldSelf.target ? ', target' : '') + (has(self.podSelector) != has(oldSelf.podSelector) || (has(self.podSelector) && self.podSelector != oldSelf.podSelector) ? ', podSelector' : '') + (self.relaxations != oldSelf.relaxations ? ', relaxations' : '') + (self.expiresAt != oldSelf.expiresAt ? ', expiresAt from ' + strings.quote(oldSelf.expiresAt) + ' to ' + strings.quote(self.expiresAt) : '') + (self.owner != oldSelf.owner ? ', owner' : '') + (self.justification != oldSelf.justification ? ', justification' : '') + (has(self.ticket) != has(oldSelf.ticket) || (has(self.ticket) && self.ticket != oldSelf.ticket) ? ', ticket' : '') + (has(self.approvedBy) != has(oldSelf.approvedBy) || (has(self.approvedBy) && self.approvedBy != oldSelf.approvedBy) ? ', approvedBy' : '') + (has(self.className) != has(oldSelf.className) || (has(self.className) && self.className != oldSelf.className) ? ', className' : '')).replace(', ', '', 1)";

/// Only a pod identity has pods for `podSelector` to select.
const POD_SELECTOR_ONLY_FOR_PODS: &str =
    "!has(self.podSelector) || self.target.kind == 'ClusterSPIFFEID' || self.target.kind == 'SPIFFEID'";

/// At least one relaxation is granted: a maximum set, a list with an item, or a flag set to true.
const GRANTS_A_RELAXATION: &str = "has(self.x509TtlMax) || has(self.jwtTtlMax) || (has(self.extraAllow) && size(self.extraAllow) > 0) || (has(self.admin) && self.admin) || (has(self.downstream) && self.downstream) || (has(self.federatesWith) && size(self.federatesWith) > 0) || (has(self.ownerNotRequired) && self.ownerNotRequired)";

/// Lets one identity (or some of its pods) break named policy rules until `expiresAt`, for
/// legacy workloads that cannot comply yet. It lapses by itself at that instant: the identity is
/// evaluated again without the relaxations, and its entries revert to the policy's TTLs or are
/// removed. The spec cannot be changed once created: an extension is a new exception, so every
/// lapse stays on record. The operator never deletes an exception.
#[derive(CustomResource, Clone, Debug, Default, Deserialize, Serialize, PartialEq, KubeSchema)]
#[kube(
    group = "spire-steward.io",
    version = "v1alpha1",
    kind = "IdentityException",
    plural = "identityexceptions",
    singular = "identityexception",
    shortname = "idexc",
    category = "spire-steward",
    status = "IdentityExceptionStatus",
    derive = "PartialEq",
    derive = "Default",
    doc = "IdentityException relaxes the identity policies for one identity until expiresAt.",
    printcolumn(name = "Ready", type_ = "string", json_path = r#".status.conditions[?(@.type=="Ready")].status"#),
    printcolumn(name = "Reason", type_ = "string", json_path = r#".status.conditions[?(@.type=="Ready")].reason"#),
    printcolumn(name = "Target", type_ = "string", json_path = ".spec.target.name"),
    printcolumn(name = "Expires", type_ = "string", json_path = ".spec.expiresAt"),
    printcolumn(name = "Owner", type_ = "string", json_path = ".spec.owner", priority = 1),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("self == oldSelf").message(Message::Expression(format!(
        "'the spec of an IdentityException cannot be changed (changed: ' + {CHANGED_FIELDS} + '); to extend or alter it, create a new exception'"
    ))),
    validation = Rule::new(POD_SELECTOR_ONLY_FOR_PODS)
        .field_path(".podSelector")
        .reason(Reason::FieldValueForbidden)
        .message(Message::Expression("'podSelector selects pods of a ClusterSPIFFEID or SPIFFEID; target ' + self.target.kind + ' ' + strings.quote(self.target.name) + ' has no pods'".into()))
)]
pub struct IdentityExceptionSpec {
    /// The identity the exception is for.
    pub target: ExceptionTarget,

    /// Limits the exception to the target's pods with these labels (the legacy pods). Unset
    /// covers every pod. Only for pod identities: a `ClusterSPIFFEID` target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_selector: Option<LabelSelector>,

    /// The policy rules the exception relaxes.
    pub relaxations: ExceptionRelaxations,

    /// The instant the exception lapses, in RFC 3339 form with a time zone, such as
    /// `2027-01-31T18:00:00Z`. It is in force strictly before this instant.
    #[schemars(length(min = 1, max = 64))]
    #[x_kube(validation = Rule::new(INSTANT_SHAPE).message(Message::Expression(EXPIRES_AT_NOT_INSTANT.into())))]
    pub expires_at: String,

    /// Who is accountable for the exception: a team or a person.
    #[schemars(length(min = 1, max = 253))]
    pub owner: String,

    /// Why the workload needs the exception.
    #[schemars(length(min = 1, max = 4096))]
    pub justification: String,

    /// The ticket tracking the work that ends the need for the exception.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub ticket: Option<String>,

    /// Who approved the exception.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253))]
    pub approved_by: Option<String>,

    /// The operator class that handles this exception; it should be the class of its target.
    /// Unset is handled by an operator configured to watch classless resources.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253))]
    pub class_name: Option<String>,
}

/// The identity an exception is for.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("self.kind != 'SPIFFEID' || has(self.namespace)").message("target.namespace is required for a SPIFFEID"),
    validation = Rule::new("self.kind == 'SPIFFEID' || !has(self.namespace)").message("target.namespace is only for a SPIFFEID: the other identity kinds are cluster-scoped")
)]
pub struct ExceptionTarget {
    /// The identity's kind.
    pub kind: IdentityKind,
    /// The identity's name.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// The identity's namespace, for a SPIFFEID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63))]
    pub namespace: Option<String>,
}

/// The relaxations an exception grants, at least one. Each one set (a flag set to true, a list
/// with an item) is a named relaxation.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new(GRANTS_A_RELAXATION).message("relaxations must grant at least one relaxation: x509TtlMax, jwtTtlMax, a non-empty extraAllow or federatesWith, or admin, downstream or ownerNotRequired set to true"))]
pub struct ExceptionRelaxations {
    /// A longer X509-SVID lifetime maximum than the policies allow, such as `720h`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    #[x_kube(
        validation = duration_shape("relaxations.x509TtlMax", "720h"),
        validation = ttl_bound("relaxations.x509TtlMax")
    )]
    pub x509_ttl_max: Option<String>,

    /// A longer JWT-SVID lifetime maximum than the policies allow, such as `1h`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    #[x_kube(
        validation = duration_shape("relaxations.jwtTtlMax", "1h"),
        validation = ttl_bound("relaxations.jwtTtlMax")
    )]
    pub jwt_ttl_max: Option<String>,

    /// SPIFFE ID path patterns allowed in addition to the policies' allow lists (legacy naming).
    /// They never override a deny pattern.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64), inner(length(min = 1, max = 1024)))]
    #[x_kube(
        validation = patterns_shape("relaxations.extraAllow"),
        validation = patterns_known_placeholders("relaxations.extraAllow")
    )]
    pub extra_allow: Option<Vec<String>>,

    /// The entries may be admin entries although a policy denies it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin: Option<bool>,

    /// The entries may be downstream entries although a policy denies it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub downstream: Option<bool>,

    /// Trust domains the entries may federate with in addition to the policies'.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64), inner(length(max = 264)))]
    #[x_kube(validation = trust_domains("relaxations.federatesWith"))]
    pub federates_with: Option<Vec<String>>,

    /// Policies that require an owner accept the identity without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_not_required: Option<bool>,
}

/// The observed state of an IdentityException.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct IdentityExceptionStatus {
    #[serde(flatten)]
    pub common: CommonStatus,
    /// The relaxations that entries relied on at the last evaluation.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub relaxations_used: Vec<String>,
    /// Entries of the target that relied on the exception at the last evaluation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entries_relaxed: Option<i32>,
}

#[cfg(test)]
mod tests {
    use kube::CustomResourceExt;

    use super::*;

    #[test]
    fn the_immutability_message_names_every_spec_field() {
        let crd = IdentityException::crd();
        let schema = crd.spec.versions[0].schema.as_ref().unwrap().open_api_v3_schema.as_ref().unwrap();
        let spec = &schema.properties.as_ref().unwrap()["spec"];
        let fields: Vec<&String> = spec.properties.as_ref().unwrap().keys().collect();
        assert!(fields.len() >= 8, "{fields:?}");
        for field in fields {
            assert!(CHANGED_FIELDS.contains(&format!("self.{field} != oldSelf.{field}")), "{field} is not compared");
        }
    }
}
