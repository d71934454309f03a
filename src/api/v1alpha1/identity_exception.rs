//! `IdentityException`: named relaxations of the policies for one identity, until an instant.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::{
    common::{
        CommonStatus, DURATION_BOUND, DURATION_SHAPE, INSTANT_SHAPE, PATTERNS_KNOWN_PLACEHOLDERS, PATTERNS_SHAPE,
        TRUST_DOMAINS,
    },
    identity_policy::IdentityKind,
};

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
#[x_kube(validation = Rule::new("self == oldSelf").message("the spec of an IdentityException cannot be changed; to extend or alter it, create a new exception"))]
pub struct IdentityExceptionSpec {
    /// The identity the exception is for.
    pub target: ExceptionTarget,

    /// Limits the exception to the target's pods with these labels (the legacy pods). Unset
    /// covers every pod. Only for pod identities.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_selector: Option<LabelSelector>,

    /// The policy rules the exception relaxes.
    pub relaxations: ExceptionRelaxations,

    /// The instant the exception lapses, in RFC 3339 form with a time zone, such as
    /// `2027-01-31T18:00:00Z`. It is in force strictly before this instant.
    #[schemars(length(min = 1, max = 64))]
    #[x_kube(validation = Rule::new(INSTANT_SHAPE).message("expiresAt must be an RFC 3339 instant with a time zone, such as 2027-01-31T18:00:00Z"))]
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
pub struct ExceptionTarget {
    /// The identity's kind.
    pub kind: IdentityKind,
    /// The identity's name.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
}

/// The relaxations an exception grants. Each one set is a named relaxation.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.x509TtlMax) || has(self.jwtTtlMax) || has(self.extraAllow) || has(self.admin) || has(self.downstream) || has(self.federatesWith) || has(self.ownerNotRequired)").message("relaxations must grant at least one relaxation"))]
pub struct ExceptionRelaxations {
    /// A longer X509-SVID lifetime maximum than the policies allow, such as `720h`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    #[x_kube(
        validation = Rule::new(DURATION_SHAPE).message("x509TtlMax must be a non-negative duration such as 720h"),
        validation = Rule::new(DURATION_BOUND).message("x509TtlMax must be at most 596523h")
    )]
    pub x509_ttl_max: Option<String>,

    /// A longer JWT-SVID lifetime maximum than the policies allow, such as `1h`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    #[x_kube(
        validation = Rule::new(DURATION_SHAPE).message("jwtTtlMax must be a non-negative duration such as 1h"),
        validation = Rule::new(DURATION_BOUND).message("jwtTtlMax must be at most 596523h")
    )]
    pub jwt_ttl_max: Option<String>,

    /// SPIFFE ID path patterns allowed in addition to the policies' allow lists (legacy naming).
    /// They never override a deny pattern.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64), inner(length(min = 1, max = 1024)))]
    #[x_kube(
        validation = Rule::new(PATTERNS_SHAPE).message("each extraAllow pattern must be an absolute path of literal segments, placeholders, * or **, with no empty, '.' or '..' segment"),
        validation = Rule::new(PATTERNS_KNOWN_PLACEHOLDERS).message("extraAllow patterns may only use the placeholders {namespace}, {serviceAccount}, {podName} and {nodeName}")
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
    #[x_kube(validation = Rule::new(TRUST_DOMAINS).message("each federatesWith item must be a trust domain name: lowercase letters, digits, '.', '-' and '_'"))]
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
