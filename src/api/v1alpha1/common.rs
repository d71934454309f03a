//! Pieces shared by every spire-steward resource: ownership, status conditions and the CEL rule
//! expressions the API server evaluates on admission.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Who is accountable for an identity.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Owner {
    /// The team that owns the workloads receiving this identity.
    #[schemars(length(min = 1, max = 253))]
    pub team: String,
    /// How to reach the owning team: an e-mail address, a chat channel or a ticket queue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253))]
    pub contact: Option<String>,
}

/// What the operator does when SPIRE's entries drift from what a resource declares: an owned
/// entry edited or deleted behind the operator's back, or an entry under its prefix that nothing
/// declares.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq, JsonSchema)]
pub enum DriftPolicy {
    /// Repairs the drift: the entry is written back as declared, recreated, or removed. Each
    /// repair is a Normal Event `DriftRepaired` on the resource.
    #[default]
    Enforce,
    /// Records the drift and leaves SPIRE as it is: the resource shows a `Drifted` condition and
    /// a Warning Event `DriftDetected`. A change of the resource's own spec is still written.
    Report,
}

/// The status fields every spire-steward resource carries.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct CommonStatus {
    /// The `metadata.generation` of the spec this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// The latest observations of the resource's state. `Ready` is always present; `Reconciling`
    /// and `Stalled` appear only while they are true.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(merge_strategy = kube::core::ListMerge::Map(vec!["type".into()]))]
    pub conditions: Vec<Condition>,
}

// CEL expressions. Every string or list they inspect has a bounded size in the schema, so the API
// server can bound their cost.

/// A Go duration string with no sign ("90s", "1h30m", "0").
pub(crate) const DURATION_SHAPE: &str =
    r"self == '0' || self.matches('^(([0-9]+(\\.[0-9]*)?|\\.[0-9]+)(ns|us|µs|ms|s|m|h))+$')";
/// SPIRE stores TTLs as 32-bit seconds.
pub(crate) const DURATION_BOUND: &str = r"self == '0' || !self.matches('^(([0-9]+(\\.[0-9]*)?|\\.[0-9]+)(ns|us|µs|ms|s|m|h))+$') || duration(self) <= duration('596523h')";
/// A full SPIFFE ID with a non-empty path.
pub(crate) const SPIFFE_ID_SHAPE: &str =
    r"self.matches('^spiffe://[a-z0-9._-]+(/[A-Za-z0-9._-]+)+$') && !self.matches('/[.][.]?(/|$)')";
/// A SPIFFE ID outside SPIRE's reserved `/spire` path.
pub(crate) const SPIFFE_ID_NOT_RESERVED: &str = r"!self.matches('^spiffe://[^/]+/spire(/|$)')";
/// A trust domain name, optionally written as `spiffe://name`.
pub(crate) const TRUST_DOMAINS: &str = r"self.all(td, td.matches('^(spiffe://)?[a-z0-9._-]{1,255}$'))";
/// A trust domain name `td`, optionally written as `spiffe://name`: `TRUST_DOMAINS` for one item.
pub(crate) const TRUST_DOMAIN_NAME: &str = r"td.matches('^(spiffe://)?[a-z0-9._-]{1,255}$')";
/// One SPIFFE ID path pattern `p` is well formed: absolute, each segment a literal, a
/// `{placeholder}`, `*` or `**`, with no empty, `.` or `..` segment.
pub(crate) const PATTERN_SHAPE: &str =
    r"p.matches('^(/([^/{}*]+|\\{[^/{}]*\\}|\\*\\*?))+$') && !p.matches('/[.][.]?(/|$)')";
/// What is wrong with a pattern `p` that is not well formed, as a CEL string.
pub(crate) const PATTERN_SHAPE_FAULT: &str = r"(!p.startsWith('/') ? 'does not start with /' : p.endsWith('/') ? 'ends with / (an empty last segment)' : p.contains('//') ? 'has an empty segment (//)' : p.matches('/[.][.]?(/|$)') ? 'has a . or .. segment' : 'has a segment that mixes a placeholder or glob with other text or has an unmatched brace ({placeholder}, * and ** fill a segment alone)')";
/// A well-formed pattern `p` names only the placeholders policies know.
pub(crate) const PATTERN_KNOWN_PLACEHOLDERS: &str =
    r"p.matches('^([^{}]|\\{(namespace|serviceAccount|podName|nodeName)\\})*$')";
/// The first placeholder of a well-formed pattern `p` that policies do not know, as a CEL string.
pub(crate) const PATTERN_UNKNOWN_PLACEHOLDER: &str =
    r"p.findAll('\\{[^/{}]*\\}').filter(x, !(x in ['{namespace}', '{serviceAccount}', '{podName}', '{nodeName}']))[0]";
/// The placeholders policies know, for messages.
pub(crate) const KNOWN_PLACEHOLDERS: &str = "{namespace}, {serviceAccount}, {podName} and {nodeName}";
/// An RFC 3339 instant with a time zone, such as `2027-01-31T18:00:00Z`, on a day its month has.
pub(crate) const INSTANT_SHAPE: &str = r"self.matches('^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\.[0-9]{1,9})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$') && int(self.substring(8, 10)) <= (self.substring(5, 7) == '02' ? ((int(self.substring(0, 4)) % 4 == 0 && int(self.substring(0, 4)) % 100 != 0) || int(self.substring(0, 4)) % 400 == 0 ? 29 : 28) : (self.substring(5, 7) in ['04', '06', '09', '11'] ? 30 : 31))";
/// The message of `INSTANT_SHAPE` on an `expiresAt` field, naming the value.
pub(crate) const EXPIRES_AT_NOT_INSTANT: &str = "'expiresAt ' + strings.quote(self) + ' is not an RFC 3339 instant with a time zone on a day its month has, such as 2027-01-31T18:00:00Z'";
