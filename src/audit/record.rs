//! One audit record: what happened to one identity, who declared it, and why. The schema is
//! versioned; fields are only ever added within a version.

use k8s_openapi::jiff::Timestamp;
use serde::Serialize;

use crate::{
    reconcile::SourceKind,
    spiffe::{Entry, EntryField, EntryMask},
};

/// The version of the record's schema, the first field of every record.
pub const SCHEMA_VERSION: &str = "spire-steward.io/audit/v1";

/// What was done, or would have been done.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// An entry written to SPIRE for the first time.
    Create,
    /// An entry changed in place.
    Update,
    /// An entry removed from SPIRE.
    Delete,
    /// A declared entry a policy does not allow.
    Deny,
    /// A declared TTL a policy bound replaced.
    Clamp,
    /// An IdentityException came into force.
    ExceptionActivated,
    /// An IdentityException entered its warning window.
    ExceptionWarning,
    /// An IdentityException reached its `expiresAt`.
    ExceptionLapsed,
    /// An entry found changed in SPIRE by someone else, and left as it is.
    DriftDetected,
    /// A deletion the circuit breaker holds until a person confirms it.
    DeletionHeld,
    /// A person confirmed held deletions.
    DeletionConfirmed,
}

/// How it ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// SPIRE took the write, or the event happened.
    Success,
    /// SPIRE refused the write, or could not be reached.
    Failed,
    /// A policy refused the identity.
    Denied,
    /// Observe mode: computed, not written.
    Observed,
    /// The deletion circuit breaker holds the write.
    Held,
}

/// Why it was done.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reason {
    /// A pod the identity selects appeared.
    PodCreated,
    /// The pod the entry was for is gone.
    PodDeleted,
    /// What a resource declares changed: a new resource, a changed spec, a pod relabelled.
    DeclarationChanged,
    /// The resource that declared the entry is gone.
    IdentityDeleted,
    /// A policy does not allow the entry.
    PolicyDenied,
    /// A policy bound set the TTL.
    TtlClamped,
    /// An exception the entry relied on lapsed, or a ClusterStaticEntry's `expiresAt` passed.
    ExceptionLapsed,
    /// An IdentityException's own lifecycle.
    ExceptionTerm,
    /// Another owned entry with the same key is kept instead.
    Duplicate,
    /// The entry was changed, removed or added in SPIRE by someone else, and put back.
    DriftRepaired,
    /// The entry was changed, removed or added in SPIRE by someone else.
    Drift,
    /// The pass would delete more of the owned entries than the breaker allows at once.
    MassDeletion,
    /// A person confirmed held deletions on the resource.
    Confirmed,
}

/// The resource an entry belongs to.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Resource {
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
    pub uid: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generation: Option<i64>,
}

/// The team that owns the resource (`spec.owner`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Owner {
    pub team: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact: Option<String>,
}

/// What SPIRE answered to a write it refused.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Failure {
    /// The gRPC status code, as SPIRE named it (`InvalidArgument`, `Unavailable`, ...).
    pub code: String,
    pub message: String,
}

/// One audit record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Record {
    pub schema_version: &'static str,
    /// RFC 3339, UTC, microseconds.
    pub time: String,
    pub action: Action,
    pub outcome: Outcome,
    pub reason: Reason,
    #[serde(rename = "entryID", skip_serializing_if = "Option::is_none")]
    pub entry_id: Option<String>,
    #[serde(rename = "spiffeID", skip_serializing_if = "Option::is_none")]
    pub spiffe_id: Option<String>,
    #[serde(rename = "parentID", skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<String>,
    /// For an update, the fields written.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource: Option<Resource>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<Owner>,
    /// The IdentityPolicy involved, by name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// The IdentityException involved, by name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exception: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<Failure>,
    /// A sentence for people, naming values (never secrets).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub message: String,
}

impl Record {
    /// A record of `action` at `time`, with nothing else filled in.
    pub fn new(time: Timestamp, action: Action, outcome: Outcome, reason: Reason) -> Self {
        Self {
            schema_version: SCHEMA_VERSION,
            time: format_time(time),
            action,
            outcome,
            reason,
            entry_id: None,
            spiffe_id: None,
            parent_id: None,
            fields: Vec::new(),
            resource: None,
            owner: None,
            policy: None,
            exception: None,
            error: None,
            message: String::new(),
        }
    }

    /// Names the entry: its ID (when it has one), SPIFFE ID and parent ID.
    pub fn entry(mut self, entry: &Entry) -> Self {
        self.entry_id = entry.id.as_ref().map(|id| id.as_str().to_owned());
        self.spiffe_id = Some(entry.spiffe_id.to_string());
        self.parent_id = Some(entry.parent_id.to_string());
        self
    }

    pub fn fields(mut self, mask: EntryMask) -> Self {
        self.fields = mask.fields().map(EntryField::name).collect();
        self
    }

    pub fn resource(mut self, resource: Option<Resource>, owner: Option<Owner>) -> Self {
        self.resource = resource;
        self.owner = owner;
        self
    }

    pub fn policy(mut self, policy: Option<String>) -> Self {
        self.policy = policy;
        self
    }

    pub fn exception(mut self, exception: Option<String>) -> Self {
        self.exception = exception;
        self
    }

    pub fn message(mut self, message: impl Into<String>) -> Self {
        self.message = message.into();
        self
    }

    pub fn failed(mut self, code: tonic::Code, message: &str) -> Self {
        self.outcome = Outcome::Failed;
        self.error = Some(Failure { code: format!("{code:?}"), message: message.to_owned() });
        self
    }
}

/// The kind's name as users write it.
pub fn kind_name(kind: SourceKind) -> String {
    format!("{kind:?}")
}

fn format_time(time: Timestamp) -> String {
    format!("{time:.6}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spiffe::{EntryId, Selector, SpiffeId};

    #[test]
    fn a_record_serialises_to_one_line_with_the_schema_version_first() {
        let mut entry = Entry::new(
            SpiffeId::parse("spiffe://example.org/ns/a/sa/web").unwrap(),
            SpiffeId::parse("spiffe://example.org/spire/agent/n").unwrap(),
            vec![Selector::parse("k8s:pod-uid:p1").unwrap()],
        );
        entry.id = Some(EntryId::parse("ss.1").unwrap());
        let time = Timestamp::from_second(1_800_000_000).unwrap();
        let record = Record::new(time, Action::Update, Outcome::Success, Reason::TtlClamped)
            .entry(&entry)
            .fields([EntryField::X509SvidTtl].into_iter().collect())
            .resource(
                Some(Resource {
                    kind: "ClusterSPIFFEID".into(),
                    namespace: None,
                    name: "web".into(),
                    uid: "u1".into(),
                    generation: Some(3),
                }),
                Some(Owner { team: "payments".into(), contact: None }),
            )
            .policy(Some("baseline".into()));
        let line = serde_json::to_string(&record).unwrap();
        assert!(
            line.starts_with(r#"{"schemaVersion":"spire-steward.io/audit/v1","time":"2027-01-15T08:00:00.000000Z","#),
            "{line}"
        );
        let value: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(value["action"], "update");
        assert_eq!(value["outcome"], "success");
        assert_eq!(value["reason"], "ttl-clamped");
        assert_eq!(value["entryID"], "ss.1");
        assert_eq!(value["fields"], serde_json::json!(["x509SVIDTTL"]));
        assert_eq!(value["resource"]["generation"], 3);
        assert_eq!(value["owner"], serde_json::json!({"team": "payments"}));
        assert!(value.get("error").is_none() && value.get("exception").is_none());
        let failed = Record::new(time, Action::Create, Outcome::Success, Reason::PodCreated)
            .failed(tonic::Code::InvalidArgument, "bad selector");
        let value = serde_json::to_value(&failed).unwrap();
        assert_eq!(value["outcome"], "failed");
        assert_eq!(value["error"], serde_json::json!({"code": "InvalidArgument", "message": "bad selector"}));
    }
}
