//! Publishing the status of IdentityPolicies and IdentityExceptions, and the Events governance
//! adds to identities: a TTL a policy now sets, an exception that lapsed.

use k8s_openapi::{api::core::v1::ObjectReference, apimachinery::pkg::apis::meta::v1::Condition, jiff::Timestamp};
use kube::{
    Api, Resource, ResourceExt,
    runtime::events::{Event, EventType},
};
use serde_json::json;

use super::{
    status_writer::{StatusWriter, next_conditions},
    worker::Worker,
};
use crate::{
    api::{
        conditions::{reasons, types},
        v1alpha1::{CommonStatus, IdentityException, IdentityPolicy, TtlStatus},
    },
    audit,
    policy::Verdict,
    status::{Desired, Health, exception_status, governance_counts, policy_status, same_conditions, ttl_change_note},
};

impl StatusWriter {
    /// A Normal Event when the TTLs a policy sets for a resource change.
    pub(super) async fn announce_ttl<K>(&self, object: &K, before: Option<&TtlStatus>, after: Option<&TtlStatus>)
    where
        K: Resource<DynamicType = ()>,
    {
        if let Some(note) = ttl_change_note(before, after) {
            self.event(&object.object_ref(&()), EventType::Normal, reasons::TTL_CLAMPED, note).await;
        }
    }

    /// The one way Events are published: a Warning or Normal Event of `reason` about `reference`,
    /// its note cut to the 1 KiB the API takes.
    pub(super) async fn event(&self, reference: &ObjectReference, type_: EventType, reason: &str, note: String) {
        let event = Event {
            type_,
            reason: reason.to_owned(),
            note: Some(note.chars().take(1024).collect()),
            action: "Reconcile".into(),
            secondary: None,
        };
        if let Err(e) = self.recorder().publish(&event, reference).await {
            tracing::warn!(error = %e, "failed to publish an event");
        }
    }

    /// Publishes every policy's and exception's status.
    pub(super) async fn publish_governance(&mut self, worker: &Worker) {
        let verdicts = worker
            .records
            .values()
            .flat_map(|r| r.verdicts.iter().map(|(uid, v)| (uid.as_str(), v)))
            .chain(worker.static_verdicts.iter().map(|(uid, v)| (uid.as_str(), v as &Verdict)));
        let (policy_counts, exception_use) = governance_counts(verdicts.clone());
        let now = Timestamp::now();
        let mut outcomes = [("governed", 0), ("denied", 0), ("clamped", 0), ("audit_violation", 0)];
        for (_, v) in verdicts {
            let d = &v.decision;
            outcomes[0].1 += 1;
            outcomes[1].1 += i32::from(!d.allowed);
            outcomes[2].1 += i32::from(d.ttl_set_by_bound());
            outcomes[3].1 += i32::from(d.violates_audit());
        }
        for (outcome, count) in outcomes {
            worker.metrics.governed(outcome, count);
        }
        let mut states = [("active", 0), ("expiring_soon", 0), ("expired", 0), ("refused", 0), ("invalid", 0)];
        let mut earliest = None;

        let api: Api<IdentityPolicy> = Api::all(self.client());
        for object in worker.stores.policies().objects {
            let uid = object.uid().unwrap_or_default();
            if !worker.rules.policies.contains_key(&uid) {
                continue;
            }
            let validity = worker.rules.policies.get(&uid);
            let desired = policy_status(
                validity.map_or(object.metadata.generation, |v| v.generation),
                validity.map(|v| v.error.as_deref().map_or(Ok(()), Err)),
                policy_counts.get(&object.name_any()),
            );
            let fields = &desired.fields;
            let name = object.name_any();
            let foreign = worker
                .drift()
                .filter(|f| f.class == crate::drift::DriftClass::Foreign && f.policy.as_deref() == Some(name.as_str()))
                .count();
            let own = json!({
                "identitiesGoverned": fields.identities_governed,
                "entriesGoverned": fields.entries_governed,
                "entriesDenied": fields.entries_denied,
                "entriesClamped": fields.entries_clamped,
                "foreignEntries": i32::try_from(foreign).unwrap_or(i32::MAX),
            });
            let current = object.status.as_ref().map(|s| (&s.common, serde_json::to_value(s).unwrap_or_default()));
            self.publish_status(&api, object.as_ref(), current, &desired, own).await;
        }

        let api: Api<IdentityException> = Api::all(self.client());
        for object in worker.stores.exceptions().objects {
            let uid = object.uid().unwrap_or_default();
            if !worker.rules.exceptions.contains_key(&uid) {
                continue;
            }
            let name = object.name_any();
            let validity = worker.rules.exceptions.get(&uid).map(|v| match &v.error {
                Some(why) => Err(why.as_str()),
                None => worker.rules.exception(&name).ok_or("not validated yet"),
            });
            let desired = exception_status(
                object.metadata.generation,
                validity,
                exception_use.get(&name),
                now,
                worker.config.exception_warning_window,
            );
            let state = match &desired.health {
                Health::Active { expiring_soon: false, .. } => 0,
                Health::Active { expiring_soon: true, .. } => 1,
                Health::Expired { .. } => 2,
                Health::TermTooLong { .. } => 3,
                _ => 4,
            };
            states[state].1 += 1;
            if state < 2
                && let Ok(at) = object.spec.expires_at.parse::<k8s_openapi::jiff::Timestamp>()
            {
                earliest = Some(earliest.map_or(at, |e: k8s_openapi::jiff::Timestamp| e.min(at)));
            }
            let fields = &desired.fields;
            let own = json!({ "entriesRelaxed": fields.entries_relaxed, "relaxationsUsed": fields.relaxations_used });
            let current = object.status.as_ref().map(|s| (&s.common, serde_json::to_value(s).unwrap_or_default()));
            let announced = self.publish_status(&api, object.as_ref(), current, &desired, own).await;
            let was_active = announced.iter().flatten().any(|c| {
                c.type_ == types::READY && [reasons::ACTIVE, reasons::EXPIRING_SOON].contains(&c.reason.as_str())
            });
            let lapsed = was_active && matches!(desired.health, Health::Expired { .. });
            if lapsed {
                self.announce_lapse(worker, &object).await;
            }
            if let Some(previous) = &announced {
                worker.trail.write(&exception_record(&object, previous, &desired.health, lapsed, now));
            }
        }
        for (state, count) in states {
            worker.metrics.exceptions(state, count);
        }
        worker.metrics.earliest_exception_expiry(earliest.map(|t| t.as_millisecond() as f64 / 1000.0));
    }

    /// Publishes one resource's status: merges its conditions, announces a change of Ready once,
    /// and writes when anything differs. `current` is the status the cache holds, with its JSON;
    /// `own` the kind's own fields. Returns the previous conditions when a transition was
    /// announced.
    async fn publish_status<K, F>(
        &mut self,
        api: &Api<K>,
        object: &K,
        current: Option<(&CommonStatus, serde_json::Value)>,
        desired: &Desired<F>,
        own: serde_json::Value,
    ) -> Option<Vec<Condition>>
    where
        K: Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    {
        let (health, synced_type, generation) = (&desired.health, desired.synced_type, desired.generation);
        let uid = object.uid().unwrap_or_default();
        let (previous, conditions) =
            next_conditions(current.as_ref().map(|(c, _)| *c), health, synced_type, generation);
        let unchanged = current.as_ref().is_some_and(|(common, json)| {
            common.observed_generation == generation
                && same_conditions(&common.conditions, &conditions)
                && own.as_object().is_some_and(|fields| fields.iter().all(|(k, v)| same_field(json.get(k), v)))
        });
        let mut status = json!({ "observedGeneration": generation, "conditions": conditions });
        if let (Some(status), Some(fields)) = (status.as_object_mut(), own.as_object()) {
            status.extend(fields.clone());
        }
        let announce = !unchanged && !self.is_written(&uid, &status);
        if announce {
            self.announce(object, &previous, health).await;
        }
        self.write(api, &K::kind(&()), None, &object.name_any(), &uid, status, unchanged).await;
        announce.then_some(previous)
    }

    /// An Event on the target of an exception that just lapsed.
    async fn announce_lapse(&self, worker: &Worker, exception: &IdentityException) {
        let target = &exception.spec.target;
        let kind = crate::policy::kind_name(crate::policy::source_kind(target.kind));
        let named = |meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta| {
            meta.name.as_deref() == Some(target.name.as_str()) && meta.namespace == target.namespace
        };
        let uid = match kind {
            "ClusterSPIFFEID" => {
                worker.stores.identities().objects.iter().find(|o| named(&o.metadata)).and_then(|o| o.uid())
            }
            "SPIFFEID" => {
                worker.stores.tenant_identities().objects.iter().find(|o| named(&o.metadata)).and_then(|o| o.uid())
            }
            _ => worker.stores.static_entries().objects.iter().find(|o| named(&o.metadata)).and_then(|o| o.uid()),
        };
        let Some(uid) = uid else { return };
        let reference = reference_to(kind, &target.name, target.namespace.clone(), Some(uid));
        let note = format!(
            "IdentityException {} expired at {}; the identity is held to the policies again",
            exception.name_any(),
            exception.spec.expires_at
        );
        tracing::info!(exception = %exception.name_any(), target = %target.name, "an exception lapsed");
        self.event(&reference, EventType::Warning, reasons::EXCEPTION_EXPIRED, note).await;
    }
}

/// A reference to one of the operator's resources, which may be gone already (the API server
/// accepts Events about deleted objects).
pub(super) fn reference_to(kind: &str, name: &str, namespace: Option<String>, uid: Option<String>) -> ObjectReference {
    ObjectReference {
        api_version: Some("spire-steward.io/v1alpha1".into()),
        kind: Some(kind.to_owned()),
        name: Some(name.to_owned()),
        namespace,
        uid,
        ..Default::default()
    }
}

/// The audit record of an exception's transition, if it is one the audit keeps: coming into
/// force, entering its warning window, lapsing.
fn exception_record(
    exception: &IdentityException,
    previous: &[Condition],
    health: &Health,
    lapsed: bool,
    now: Timestamp,
) -> Vec<audit::Record> {
    let was = |reason: &str| previous.iter().any(|c| c.type_ == types::READY && c.reason == reason);
    let action = match health {
        Health::Active { expiring_soon: false, .. } if !was(reasons::ACTIVE) => audit::Action::ExceptionActivated,
        Health::Active { expiring_soon: true, .. } if !was(reasons::EXPIRING_SOON) => {
            if was(reasons::ACTIVE) {
                audit::Action::ExceptionWarning
            } else {
                // Created inside its warning window: it comes into force and warns at once.
                audit::Action::ExceptionActivated
            }
        }
        Health::Expired { .. } if lapsed => audit::Action::ExceptionLapsed,
        _ => return Vec::new(),
    };
    let spec = &exception.spec;
    let target = &spec.target;
    let resource = audit::Resource {
        kind: "IdentityException".into(),
        namespace: None,
        name: exception.name_any(),
        uid: exception.uid().unwrap_or_default(),
        generation: exception.metadata.generation,
    };
    let target_name = match &target.namespace {
        Some(ns) => format!("{ns}/{}", target.name),
        None => target.name.clone(),
    };
    let mut message = format!(
        "{} {target_name}, expires at {}; justification: {}",
        crate::policy::kind_name(crate::policy::source_kind(target.kind)),
        spec.expires_at,
        spec.justification
    );
    if let Some(ticket) = &spec.ticket {
        message.push_str(&format!("; ticket {ticket}"));
    }
    if let Some(approved_by) = &spec.approved_by {
        message.push_str(&format!("; approved by {approved_by}"));
    }
    let mut record = audit::Record::new(now, action, audit::Outcome::Success, audit::Reason::ExceptionTerm)
        .resource(Some(resource), Some(audit::Owner { team: spec.owner.clone(), contact: None }))
        .exception(Some(exception.name_any()))
        .message(message);
    if action == audit::Action::ExceptionLapsed {
        record.reason = audit::Reason::ExceptionLapsed;
    }
    vec![record]
}

/// Whether a status field the cache holds is the one wanted: an absent field stands for null or
/// an empty list, which the types leave out.
fn same_field(current: Option<&serde_json::Value>, wanted: &serde_json::Value) -> bool {
    match current {
        Some(current) => current == wanted,
        None => wanted.is_null() || wanted.as_array().is_some_and(Vec::is_empty),
    }
}
