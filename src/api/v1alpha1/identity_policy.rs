//! `IdentityPolicy`: who may mint which SPIFFE IDs, with which TTLs and privileges.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{
    CommonStatus, DURATION_BOUND, DURATION_SHAPE, PATTERNS_KNOWN_PLACEHOLDERS, PATTERNS_SHAPE, TRUST_DOMAINS,
};

/// Governs the identities it matches: which SPIFFE IDs they may render, the TTL bounds of their
/// SVIDs and the privileges their entries may carry. Every policy that matches an entry must be
/// satisfied. Under `Enforce`, an entry that breaks a rule is not written, and removed if it
/// exists; under `Audit` it is written and the violation reported.
#[derive(CustomResource, Clone, Debug, Default, Deserialize, Serialize, PartialEq, KubeSchema)]
#[kube(
    group = "spire-steward.io",
    version = "v1alpha1",
    kind = "IdentityPolicy",
    plural = "identitypolicies",
    singular = "identitypolicy",
    shortname = "idpol",
    category = "spire-steward",
    status = "IdentityPolicyStatus",
    derive = "PartialEq",
    derive = "Default",
    doc = "IdentityPolicy bounds the SPIFFE IDs, TTLs and privileges of the identities it matches.",
    printcolumn(name = "Ready", type_ = "string", json_path = r#".status.conditions[?(@.type=="Ready")].status"#),
    printcolumn(name = "Reason", type_ = "string", json_path = r#".status.conditions[?(@.type=="Ready")].reason"#),
    printcolumn(name = "Enforcement", type_ = "string", json_path = ".spec.enforcement"),
    printcolumn(name = "Governed", type_ = "integer", json_path = ".status.entriesGoverned"),
    printcolumn(name = "Denied", type_ = "integer", json_path = ".status.entriesDenied"),
    printcolumn(name = "Clamped", type_ = "integer", json_path = ".status.entriesClamped", priority = 1),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
pub struct IdentityPolicySpec {
    /// Which identities the policy governs. Unset governs every identity.
    #[serde(default, rename = "match", skip_serializing_if = "Option::is_none")]
    pub policy_match: Option<PolicyMatch>,

    /// The SPIFFE ID paths the governed identities may render.
    #[serde(default, rename = "spiffeIDs", skip_serializing_if = "Option::is_none")]
    pub spiffe_ids: Option<SpiffeIdRules>,

    /// Bounds on the SVID lifetimes of the governed entries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<TtlPolicy>,

    /// What the governed entries may carry beyond their SPIFFE ID. Unset denies `admin`,
    /// `downstream` and every `federatesWith` domain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub privileges: Option<PrivilegeRules>,

    /// Requires the governed identities to name an owner team and contact (`spec.owner.team`
    /// and `spec.owner.contact`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require_owner: Option<bool>,

    /// The longest term an IdentityException to this policy may have, from its creation to its
    /// `expiresAt`, as a duration such as `720h`. A longer exception is refused (`TermTooLong`)
    /// and relaxes nothing. Unset allows any term.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    #[x_kube(
        validation = Rule::new(DURATION_SHAPE).message("maxExceptionDuration must be a non-negative duration such as 720h"),
        validation = Rule::new(DURATION_BOUND).message("maxExceptionDuration must be at most 596523h")
    )]
    pub max_exception_duration: Option<String>,

    /// `Enforce` (the default) stops entries that break a rule; `Audit` reports them and writes
    /// them unchanged (its TTL bounds neither clamp nor fill a TTL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enforcement: Option<Enforcement>,

    /// The operator class that handles this policy: it governs only the identities of that
    /// class. Unset is handled by an operator configured to watch classless resources.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253))]
    pub class_name: Option<String>,
}

/// How a policy's violations are handled.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq, JsonSchema)]
pub enum Enforcement {
    /// Entries that break a rule are not written, and removed if they exist.
    #[default]
    Enforce,
    /// Violations are reported in status and Events; entries are written as declared.
    Audit,
}

/// The identity kinds a policy may govern.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq, JsonSchema)]
pub enum IdentityKind {
    #[default]
    #[serde(rename = "ClusterSPIFFEID")]
    ClusterSpiffeId,
    ClusterStaticEntry,
}

/// Which identities a policy governs. Every field given must match.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct PolicyMatch {
    /// The identity kinds governed. Empty governs every identity kind.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 8))]
    pub kinds: Vec<IdentityKind>,

    /// Selects the identity resources by their labels. Unset selects all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,

    /// Selects by the labels of the pod's namespace, for pod identities. A ClusterStaticEntry has
    /// no namespace: it matches only when this is unset or empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<LabelSelector>,
}

/// SPIFFE ID path patterns. A pattern is an absolute path whose segments are each a literal, a
/// placeholder (`{namespace}`, `{serviceAccount}`, `{podName}`, `{nodeName}`: the identity's own
/// value), `*` (exactly one segment) or `**` (any number of segments). A placeholder or glob
/// fills its segment alone.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct SpiffeIdRules {
    /// When not empty, the rendered SPIFFE ID's path must match one of these, for example
    /// `/ns/{namespace}/sa/{serviceAccount}`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64), inner(length(min = 1, max = 1024)))]
    #[x_kube(
        validation = Rule::new(PATTERNS_SHAPE).message("each allow pattern must be an absolute path of literal segments, placeholders, * or **, with no empty, '.' or '..' segment and no placeholder or glob mixed with other text in a segment"),
        validation = Rule::new(PATTERNS_KNOWN_PLACEHOLDERS).message("allow patterns may only use the placeholders {namespace}, {serviceAccount}, {podName} and {nodeName}")
    )]
    pub allow: Vec<String>,

    /// A SPIFFE ID whose path matches one of these is denied, whatever the allow list and any
    /// exception say, for example `/legacy/**`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64), inner(length(min = 1, max = 1024)))]
    #[x_kube(
        validation = Rule::new(PATTERNS_SHAPE).message("each deny pattern must be an absolute path of literal segments, placeholders, * or **, with no empty, '.' or '..' segment and no placeholder or glob mixed with other text in a segment"),
        validation = Rule::new(PATTERNS_KNOWN_PLACEHOLDERS).message("deny patterns may only use the placeholders {namespace}, {serviceAccount}, {podName} and {nodeName}")
    )]
    pub deny: Vec<String>,
}

const X509_MIN_LE_MAX: &str = r"!has(self.min) || !has(self.max) || !self.min.matches('^(([0-9]+(\\.[0-9]*)?|\\.[0-9]+)(ns|us|µs|ms|s|m|h))+$') || !self.max.matches('^(([0-9]+(\\.[0-9]*)?|\\.[0-9]+)(ns|us|µs|ms|s|m|h))+$') || duration(self.min) <= duration(self.max)";
const DEFAULT_LE_MAX: &str = r"!has(self.default) || !has(self.max) || !self.default.matches('^(([0-9]+(\\.[0-9]*)?|\\.[0-9]+)(ns|us|µs|ms|s|m|h))+$') || !self.max.matches('^(([0-9]+(\\.[0-9]*)?|\\.[0-9]+)(ns|us|µs|ms|s|m|h))+$') || duration(self.default) <= duration(self.max)";
const MIN_LE_DEFAULT: &str = r"!has(self.min) || !has(self.default) || !self.min.matches('^(([0-9]+(\\.[0-9]*)?|\\.[0-9]+)(ns|us|µs|ms|s|m|h))+$') || !self.default.matches('^(([0-9]+(\\.[0-9]*)?|\\.[0-9]+)(ns|us|µs|ms|s|m|h))+$') || duration(self.min) <= duration(self.default)";

/// Bounds on SVID lifetimes.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct TtlPolicy {
    /// Bounds on X509-SVID lifetimes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x509: Option<X509Bounds>,
    /// Bounds on JWT-SVID lifetimes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwt: Option<JwtBounds>,
    /// What happens to a declared TTL outside the bounds: `Clamp` (the default) writes the
    /// nearest bound and says so in status; `Deny` denies the entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<TtlAction>,
}

/// What a policy does with a TTL outside its bounds.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq, JsonSchema)]
pub enum TtlAction {
    #[default]
    Clamp,
    Deny,
}

/// X509-SVID lifetime bounds, each a duration such as `1h`.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new(X509_MIN_LE_MAX).message("ttl.x509.min must not be above ttl.x509.max"),
    validation = Rule::new(DEFAULT_LE_MAX).message("ttl.x509.default must not be above ttl.x509.max"),
    validation = Rule::new(MIN_LE_DEFAULT).message("ttl.x509.default must not be below ttl.x509.min")
)]
pub struct X509Bounds {
    /// The shortest lifetime allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    #[x_kube(
        validation = Rule::new(DURATION_SHAPE).message("min must be a non-negative duration such as 5m"),
        validation = Rule::new(DURATION_BOUND).message("min must be at most 596523h")
    )]
    pub min: Option<String>,
    /// The longest lifetime allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    #[x_kube(
        validation = Rule::new(DURATION_SHAPE).message("max must be a non-negative duration such as 24h"),
        validation = Rule::new(DURATION_BOUND).message("max must be at most 596523h")
    )]
    pub max: Option<String>,
    /// The lifetime of entries that declare none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    #[x_kube(
        validation = Rule::new(DURATION_SHAPE).message("default must be a non-negative duration such as 1h"),
        validation = Rule::new(DURATION_BOUND).message("default must be at most 596523h")
    )]
    pub default: Option<String>,
}

/// JWT-SVID lifetime bounds, each a duration such as `5m`.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new(DEFAULT_LE_MAX).message("ttl.jwt.default must not be above ttl.jwt.max"))]
pub struct JwtBounds {
    /// The longest lifetime allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    #[x_kube(
        validation = Rule::new(DURATION_SHAPE).message("max must be a non-negative duration such as 15m"),
        validation = Rule::new(DURATION_BOUND).message("max must be at most 596523h")
    )]
    pub max: Option<String>,
    /// The lifetime of entries that declare none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    #[x_kube(
        validation = Rule::new(DURATION_SHAPE).message("default must be a non-negative duration such as 5m"),
        validation = Rule::new(DURATION_BOUND).message("default must be at most 596523h")
    )]
    pub default: Option<String>,
}

/// Whether a privilege may be granted.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq, JsonSchema)]
pub enum Permission {
    Allow,
    #[default]
    Deny,
}

/// The privileges governed entries may carry.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct PrivilegeRules {
    /// Whether entries may be admin entries. Default `Deny`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin: Option<Permission>,
    /// Whether entries may be downstream entries. Default `Deny`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub downstream: Option<Permission>,
    /// The trust domains entries may federate with. Default none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64), inner(length(max = 264)))]
    #[x_kube(validation = Rule::new(TRUST_DOMAINS).message("each federatesWith item must be a trust domain name: lowercase letters, digits, '.', '-' and '_'"))]
    pub federates_with: Vec<String>,
    /// For ClusterStaticEntries: the selector types (`unix`, `k8s`, ...) they may use. Unset
    /// allows any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 32), inner(length(min = 1, max = 64)))]
    pub selector_types: Option<Vec<String>>,
    /// For ClusterStaticEntries: path patterns the parent ID must match one of. Unset allows any.
    #[serde(default, rename = "parentIDs", skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64), inner(length(min = 1, max = 1024)))]
    #[x_kube(
        validation = Rule::new(PATTERNS_SHAPE).message("each parentIDs pattern must be an absolute path of literal segments, placeholders, * or **, with no empty, '.' or '..' segment"),
        validation = Rule::new(PATTERNS_KNOWN_PLACEHOLDERS).message("parentIDs patterns may only use the placeholders {namespace}, {serviceAccount}, {podName} and {nodeName}")
    )]
    pub parent_ids: Option<Vec<String>>,
}

/// The observed state of an IdentityPolicy.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct IdentityPolicyStatus {
    #[serde(flatten)]
    pub common: CommonStatus,
    /// Identities the policy governs for at least one entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identities_governed: Option<i32>,
    /// Entries the policy governs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entries_governed: Option<i32>,
    /// Governed entries that break one of its rules (written anyway under `Audit`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entries_denied: Option<i32>,
    /// Governed entries whose TTL one of its bounds set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entries_clamped: Option<i32>,
}
