//! `IdentityPolicy`: who may mint which SPIFFE IDs, with which TTLs and privileges.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::{
    CustomResource, KubeSchema,
    core::{Message, Rule},
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{
    CommonStatus, DURATION_SHAPE, KNOWN_PLACEHOLDERS, PATTERN_KNOWN_PLACEHOLDERS, PATTERN_SHAPE, PATTERN_SHAPE_FAULT,
    PATTERN_UNKNOWN_PLACEHOLDER, TRUST_DOMAIN_NAME,
};

// Rules shared by the fields of policies and exceptions. Each message names the field (its path
// under `spec`) and the offending value.

/// A duration field's value is a duration, such as `example`.
pub(super) fn duration_shape(field: &str, example: &str) -> Rule {
    Rule::new(DURATION_SHAPE).message(Message::Expression(format!(
        "'{field} ' + strings.quote(self) + ' is not a non-negative duration such as {example}'"
    )))
}

/// The Go duration syntax: `DURATION_SHAPE` besides `0`.
const DURATION_SYNTAX: &str = r"^(([0-9]+(\\.[0-9]*)?|\\.[0-9]+)(ns|us|µs|ms|s|m|h))+$";

/// Whether `subject`, a string of `DURATION_SYNTAX`, is shorter than 2000000h, by a floating-point sum
/// of its parts. `duration()` of a longer one could overflow (Go durations end near 2562047h) and
/// fail the rule with an evaluation error instead of its message.
fn duration_fits(subject: &str) -> String {
    format!(
        "{subject}.findAll('[0-9.]+[^0-9.]+').map(c, double(c.find('[0-9.]+')) * (c.endsWith('h') ? 3600.0 : \
         c.endsWith('ns') ? 0.000000001 : c.endsWith('us') || c.endsWith('µs') ? 0.000001 : \
         c.endsWith('ms') ? 0.001 : c.endsWith('m') ? 60.0 : 1.0)).sum() < 7200000000.0"
    )
}

/// A duration field's value is at most 596523h; `why` says where the bound comes from. As
/// `DURATION_BOUND`, but a value too long for `duration()` is refused with the message too.
fn duration_bound(field: &str, why: &str) -> Rule {
    Rule::new(format!(
        "self == '0' || !self.matches('{DURATION_SYNTAX}') || ({} && duration(self) <= duration('596523h'))",
        duration_fits("self")
    ))
    .message(Message::Expression(format!("'{field} ' + strings.quote(self) + ' is above 596523h{why}'")))
}

/// A TTL field's value is at most 596523h.
pub(super) fn ttl_bound(field: &str) -> Rule {
    duration_bound(field, " (SPIRE stores TTLs as 32-bit seconds)")
}

/// Every item of a list of SPIFFE ID path patterns is well formed.
pub(super) fn patterns_shape(field: &str) -> Rule {
    Rule::new(format!("self.all(p, {PATTERN_SHAPE})")).message(Message::Expression(format!(
        "self.map(p, !({PATTERN_SHAPE}), '{field} pattern ' + strings.quote(p) + ' ' + {PATTERN_SHAPE_FAULT})[0]"
    )))
}

/// The well-formed items of a list of SPIFFE ID path patterns name only known placeholders.
pub(super) fn patterns_known_placeholders(field: &str) -> Rule {
    Rule::new(format!("self.all(p, !({PATTERN_SHAPE}) || {PATTERN_KNOWN_PLACEHOLDERS})")).message(Message::Expression(
        format!(
            "self.map(p, ({PATTERN_SHAPE}) && !{PATTERN_KNOWN_PLACEHOLDERS}, '{field} pattern ' + strings.quote(p) + \
             ' names the unknown placeholder ' + {PATTERN_UNKNOWN_PLACEHOLDER} + '; the placeholders are {KNOWN_PLACEHOLDERS}')[0]"
        ),
    ))
}

/// Every item of a list is a trust domain name.
pub(super) fn trust_domains(field: &str) -> Rule {
    Rule::new(format!("self.all(td, {TRUST_DOMAIN_NAME})")).message(Message::Expression(format!(
        "self.map(td, !{TRUST_DOMAIN_NAME}, '{field} item ' + strings.quote(td) + \
         ' is not a trust domain name (lowercase letters, digits, ., - and _, optionally after spiffe://)')[0]"
    )))
}

/// Field `low` of a TTL bounds object is not above its field `high`, when both are set and are
/// durations short enough to compare (the fields' own rules report the others); `complaint` is
/// the message, a CEL string.
fn ttl_order(low: &str, high: &str, complaint: String) -> Rule {
    let duration = |f: &str| {
        format!(
            "(self.{f} == '0' || (self.{f}.matches('{DURATION_SYNTAX}') && {}))",
            duration_fits(&format!("self.{f}"))
        )
    };
    Rule::new(format!(
        "!has(self.{low}) || !has(self.{high}) || !{} || !{} || duration(self.{low}) <= duration(self.{high})",
        duration(low),
        duration(high)
    ))
    .message(Message::Expression(complaint))
}

/// `object.low` is not above `object.high`, `object` being the bounds' path, such as `ttl.x509`.
fn not_above(object: &str, low: &str, high: &str) -> Rule {
    ttl_order(
        low,
        high,
        format!(
            "'{object}.{low} ' + strings.quote(self.{low}) + ' is above {object}.{high} ' + strings.quote(self.{high})"
        ),
    )
}

/// `object.high` is not below `object.low`.
fn not_below(object: &str, high: &str, low: &str) -> Rule {
    ttl_order(
        low,
        high,
        format!(
            "'{object}.{high} ' + strings.quote(self.{high}) + ' is below {object}.{low} ' + strings.quote(self.{low})"
        ),
    )
}

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
        validation = duration_shape("maxExceptionDuration", "720h"),
        validation = duration_bound("maxExceptionDuration", "")
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
    /// The namespaced tenant identity.
    #[serde(rename = "SPIFFEID")]
    SpiffeId,
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
        validation = patterns_shape("spiffeIDs.allow"),
        validation = patterns_known_placeholders("spiffeIDs.allow")
    )]
    pub allow: Vec<String>,

    /// A SPIFFE ID whose path matches one of these is denied, whatever the allow list and any
    /// exception say, for example `/legacy/**`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64), inner(length(min = 1, max = 1024)))]
    #[x_kube(
        validation = patterns_shape("spiffeIDs.deny"),
        validation = patterns_known_placeholders("spiffeIDs.deny")
    )]
    pub deny: Vec<String>,
}

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
    validation = not_above("ttl.x509", "min", "max"),
    validation = not_above("ttl.x509", "default", "max"),
    validation = not_below("ttl.x509", "default", "min")
)]
pub struct X509Bounds {
    /// The shortest lifetime allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    #[x_kube(
        validation = duration_shape("ttl.x509.min", "5m"),
        validation = ttl_bound("ttl.x509.min")
    )]
    pub min: Option<String>,
    /// The longest lifetime allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    #[x_kube(
        validation = duration_shape("ttl.x509.max", "24h"),
        validation = ttl_bound("ttl.x509.max")
    )]
    pub max: Option<String>,
    /// The lifetime of entries that declare none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    #[x_kube(
        validation = duration_shape("ttl.x509.default", "1h"),
        validation = ttl_bound("ttl.x509.default")
    )]
    pub default: Option<String>,
}

/// JWT-SVID lifetime bounds, each a duration such as `5m`.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = not_above("ttl.jwt", "default", "max"))]
pub struct JwtBounds {
    /// The longest lifetime allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    #[x_kube(
        validation = duration_shape("ttl.jwt.max", "15m"),
        validation = ttl_bound("ttl.jwt.max")
    )]
    pub max: Option<String>,
    /// The lifetime of entries that declare none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    #[x_kube(
        validation = duration_shape("ttl.jwt.default", "5m"),
        validation = ttl_bound("ttl.jwt.default")
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
    #[x_kube(validation = trust_domains("privileges.federatesWith"))]
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
        validation = patterns_shape("privileges.parentIDs"),
        validation = patterns_known_placeholders("privileges.parentIDs")
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
    /// Entries in SPIRE that the operator does not own whose SPIFFE ID lies in the space the
    /// policy's `spiffeIDs` patterns govern (drift class Foreign). They are reported, never
    /// changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub foreign_entries: Option<i32>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::v1alpha1::common::TRUST_DOMAINS;

    // The rules above restate two shared expressions for one item or with a guard; they must not
    // drift apart from them.

    #[test]
    fn duration_syntax_is_the_shape_besides_zero() {
        assert_eq!(DURATION_SHAPE, format!("self == '0' || self.matches('{DURATION_SYNTAX}')"));
    }

    #[test]
    fn trust_domain_name_is_the_list_rule_for_one_item() {
        assert_eq!(TRUST_DOMAINS, format!("self.all(td, {TRUST_DOMAIN_NAME})"));
    }
}
