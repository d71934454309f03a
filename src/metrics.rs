//! Prometheus metrics. Labels are low-cardinality by construction: RPC method and gRPC code,
//! write operation, drift class, error category and owner team (at most [`MAX_TEAMS`]); never an
//! entry. The one exception is `resource_ready`, one series per custom resource of this
//! instance and condition, as cert-manager's `certmanager_certificate_ready_status`: bounded by
//! the resources the operator handles. Every counter exists at zero from start-up for its known
//! label values.

mod exposition;

pub use exposition::{PROMETHEUS_CONTENT_TYPE, to_prometheus_text};

use std::{
    sync::{Arc, atomic::AtomicU64},
    time::Duration,
};

use prometheus_client::{
    encoding::{EncodeLabelSet, text::encode},
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::Registry,
};

use crate::spire::CallObserver;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RpcLabels {
    method: &'static str,
    code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MethodLabels {
    method: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabels {
    operation: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ClassLabels {
    class: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ItemKindLabels {
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CategoryLabels {
    category: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
    revision: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReadyLabels {
    kind: String,
    namespace: String,
    name: String,
    condition: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TeamLabels {
    team: String,
}

/// The most owner teams `entries_by_team` names; the others are summed under `team="other"`.
pub const MAX_TEAMS: usize = 50;

/// The error categories of `reconcile_errors`.
pub const ERROR_CATEGORIES: [&str; 4] = ["spire_unavailable", "spire_rejected", "render_failed", "status_write"];
const OPERATIONS: [&str; 3] = ["create", "update", "delete"];
const DRIFT_CLASSES: [&str; 4] = ["modified", "missing", "unexpected", "foreign"];

fn latency_buckets() -> impl Iterator<Item = f64> {
    [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0].into_iter()
}

/// Every metric the operator exports.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    spire_requests: Family<RpcLabels, Counter>,
    spire_latency: Family<MethodLabels, Histogram>,
    entries_written: Family<OperationLabels, Counter>,
    pod_to_entry: Histogram,
    queue_depth: Gauge,
    managed_entries: Gauge,
    drift_detected: Family<ClassLabels, Counter>,
    drifted_entries: Family<ClassLabels, Gauge>,
    errors: Family<CategoryLabels, Counter>,
    relists: Family<KindLabels, Counter>,
    unparsed: Family<ItemKindLabels, Gauge>,
    unreadable: Family<ItemKindLabels, Gauge>,
    governed: Family<OutcomeLabels, Gauge>,
    exceptions: Family<OutcomeLabels, Gauge>,
    deletions_held: Gauge,
    pending_writes: Family<ActionLabels, Gauge>,
    leader: Gauge,
    last_periodic_check: Gauge<f64, AtomicU64>,
    periodic_check_interval: Gauge<f64, AtomicU64>,
    resource_ready: Family<ReadyLabels, Gauge>,
    entries_by_team: Family<TeamLabels, Gauge>,
    earliest_exception_expiry: Gauge<f64, AtomicU64>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ActionLabels {
    action: &'static str,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("spire_steward");
        let spire_requests = Family::<RpcLabels, Counter>::default();
        registry.register("spire_requests", "SPIRE Server API calls by method and gRPC code", spire_requests.clone());
        let spire_latency =
            Family::<MethodLabels, Histogram>::new_with_constructor(|| Histogram::new(latency_buckets()));
        registry.register(
            "spire_request_duration_seconds",
            "SPIRE Server API call latency by method",
            spire_latency.clone(),
        );
        let entries_written = Family::<OperationLabels, Counter>::default();
        registry.register(
            "entries_written",
            "Registration entries created, updated and deleted",
            entries_written.clone(),
        );
        let pod_to_entry = Histogram::new(latency_buckets());
        registry.register(
            "pod_to_entry_seconds",
            "Time from a pod's creation to its entry's creation in SPIRE",
            pod_to_entry.clone(),
        );
        let queue_depth = Gauge::default();
        registry.register("queue_depth", "Changes waiting for the worker", queue_depth.clone());
        let managed_entries = Gauge::default();
        registry.register("managed_entries", "Entries the operator owns in SPIRE", managed_entries.clone());
        let drift_detected = Family::<ClassLabels, Counter>::default();
        registry.register(
            "drift_detected",
            "Entries found drifted from their declarations, by class (modified, missing, unexpected, foreign), once per detection",
            drift_detected.clone(),
        );
        let drifted_entries = Family::<ClassLabels, Gauge>::default();
        registry.register(
            "drifted_entries",
            "Entries drifted now and not repaired (driftPolicy Report, or foreign), by class",
            drifted_entries.clone(),
        );
        let errors = Family::<CategoryLabels, Counter>::default();
        registry.register("reconcile_errors", "Reconciliation errors by category", errors.clone());
        let relists = Family::<KindLabels, Counter>::default();
        registry.register(
            "watch_relists",
            "Completed listings by watched kind (start-up, expired watches, API server restarts)",
            relists.clone(),
        );
        let unparsed = Family::<ItemKindLabels, Gauge>::default();
        registry.register(
            "spire_items_unparsed",
            "Items of the last SPIRE listing the operator could not read and left out, by kind (entry, federation_relationship)",
            unparsed.clone(),
        );
        let governed = Family::<OutcomeLabels, Gauge>::default();
        registry.register(
            "policy_entries",
            "Entries policies govern, by outcome of the last evaluation: governed, denied, clamped, audit_violation",
            governed.clone(),
        );
        let exceptions = Family::<OutcomeLabels, Gauge>::default();
        registry.register(
            "identity_exceptions",
            "IdentityExceptions by state: active, expiring_soon, expired, refused, invalid",
            exceptions.clone(),
        );
        let unreadable = Family::<ItemKindLabels, Gauge>::default();
        registry.register(
            "resources_unreadable",
            "Custom resources of this instance's class that do not parse, by kind; their entries are kept as they are",
            unreadable.clone(),
        );
        let deletions_held = Gauge::default();
        registry.register(
            "deletions_held",
            "Entry deletions the deletion circuit breaker holds until a person confirms them",
            deletions_held.clone(),
        );
        let pending_writes = Family::<ActionLabels, Gauge>::default();
        registry.register(
            "pending_writes",
            "Observe mode: entry writes planned and not made, by action (create, update, delete)",
            pending_writes.clone(),
        );
        let build_info = Family::<BuildLabels, Gauge>::default();
        registry.register("build_info", "The operator's version and source revision; always 1", build_info.clone());
        build_info.get_or_create(&BuildLabels { version: env!("CARGO_PKG_VERSION"), revision: REVISION }).set(1);
        let leader = Gauge::default();
        registry.register(
            "leader",
            "1 while this replica holds the leader lease and writes, 0 on a standby",
            leader.clone(),
        );
        let last_periodic_check = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "last_periodic_check_timestamp_seconds",
            "When the last periodic check listed SPIRE successfully (Unix time); 0 before the first",
            last_periodic_check.clone(),
        );
        let periodic_check_interval = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "periodic_check_interval_seconds",
            "The configured interval of the periodic check (gcInterval)",
            periodic_check_interval.clone(),
        );
        let resource_ready = Family::<ReadyLabels, Gauge>::default();
        registry.register(
            "resource_ready_status",
            "The Ready condition of each custom resource this instance handles: 1 for its current status (True, False or Unknown), 0 for the others",
            resource_ready.clone(),
        );
        let entries_by_team = Family::<TeamLabels, Gauge>::default();
        registry.register(
            "entries_by_team",
            "Entries declared, by the owner team of the resource declaring them (spec.owner.team; none: no owner; beyond the 50 largest teams: other)",
            entries_by_team.clone(),
        );
        let earliest_exception_expiry = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "identity_exception_earliest_expiry_timestamp_seconds",
            "When the earliest active IdentityException expires (Unix time); 0 when none is active",
            earliest_exception_expiry.clone(),
        );
        for operation in OPERATIONS {
            let _ = entries_written.get_or_create(&OperationLabels { operation });
        }
        for category in ERROR_CATEGORIES {
            let _ = errors.get_or_create(&CategoryLabels { category });
        }
        for class in DRIFT_CLASSES {
            let _ = drift_detected.get_or_create(&ClassLabels { class });
        }
        Self {
            leader,
            last_periodic_check,
            periodic_check_interval,
            resource_ready,
            entries_by_team,
            earliest_exception_expiry,
            deletions_held,
            pending_writes,
            registry,
            spire_requests,
            spire_latency,
            entries_written,
            pod_to_entry,
            queue_depth,
            managed_entries,
            drift_detected,
            drifted_entries,
            errors,
            relists,
            unparsed,
            unreadable,
            governed,
            exceptions,
        }
    }

    /// The text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        encode(&mut out, &self.registry).expect("writing to a String cannot fail");
        out
    }

    /// Counts writes: `operation` is `create`, `update` or `delete`.
    pub fn written(&self, operation: &'static str, count: usize) {
        self.entries_written.get_or_create(&OperationLabels { operation }).inc_by(count as u64);
    }

    pub fn pod_to_entry(&self, elapsed: Duration) {
        self.pod_to_entry.observe(elapsed.as_secs_f64());
    }

    pub fn queue_depth(&self, depth: usize) {
        self.queue_depth.set(depth as i64);
    }

    pub fn managed_entries(&self, count: usize) {
        self.managed_entries.set(count as i64);
    }

    /// Counts detections of drift: `class` is `modified`, `missing`, `unexpected` or `foreign`
    /// ([`crate::drift::DriftClass::label`]).
    pub fn drift_detected(&self, class: &'static str, count: usize) {
        self.drift_detected.get_or_create(&ClassLabels { class }).inc_by(count as u64);
    }

    /// Sets how many entries of `class` are drifted now and not repaired.
    pub fn drifted_entries(&self, class: &'static str, count: usize) {
        self.drifted_entries.get_or_create(&ClassLabels { class }).set(count as i64);
    }

    /// Counts a completed listing of a watched kind.
    pub fn relisted(&self, kind: &'static str) {
        self.relists.get_or_create(&KindLabels { kind }).inc();
    }

    /// Sets how many items of the last listing of `kind` (`entry` or `federation_relationship`,
    /// see [`crate::spire::EntryListing::KIND`] and [`crate::spire::RelationshipListing::KIND`])
    /// could not be read; 0 once they all are again.
    pub fn unparsed(&self, kind: &str, count: usize) {
        self.unparsed.get_or_create(&ItemKindLabels { kind: kind.to_owned() }).set(count as i64);
    }

    /// Sets how many cached resources of `kind` do not parse.
    /// Entries policies govern, by outcome.
    pub fn governed(&self, outcome: &'static str, count: i32) {
        self.governed.get_or_create(&OutcomeLabels { outcome }).set(i64::from(count));
    }

    /// IdentityExceptions by state.
    pub fn exceptions(&self, state: &'static str, count: i32) {
        self.exceptions.get_or_create(&OutcomeLabels { outcome: state }).set(i64::from(count));
    }

    /// Sets how many deletions the circuit breaker holds; 0 once none is.
    pub fn deletions_held(&self, count: usize) {
        self.deletions_held.set(count as i64);
    }

    /// Observe mode: sets how many writes of `action` (`create`, `update`, `delete`) are planned
    /// and not made.
    pub fn pending_writes(&self, action: &'static str, count: usize) {
        self.pending_writes.get_or_create(&ActionLabels { action }).set(count as i64);
    }

    pub fn unreadable(&self, kind: &str, count: usize) {
        self.unreadable.get_or_create(&ItemKindLabels { kind: kind.to_owned() }).set(count as i64);
    }

    /// Counts an error: `category` is one of [`ERROR_CATEGORIES`].
    pub fn error(&self, category: &'static str) {
        debug_assert!(ERROR_CATEGORIES.contains(&category), "{category}");
        self.errors.get_or_create(&CategoryLabels { category }).inc();
    }

    /// Whether this replica leads.
    pub fn leader(&self, leads: bool) {
        self.leader.set(i64::from(leads));
    }

    /// The periodic check runs every `interval`.
    pub fn periodic_check_interval(&self, interval: Duration) {
        self.periodic_check_interval.set(interval.as_secs_f64());
    }

    /// A periodic check listed SPIRE at `unix_seconds`.
    pub fn periodic_check(&self, unix_seconds: f64) {
        self.last_periodic_check.set(unix_seconds);
    }

    /// Sets a resource's Ready status (`True`, `False` or `Unknown`).
    pub fn resource_ready(&self, kind: &str, namespace: &str, name: &str, status: &str) {
        for condition in ["True", "False", "Unknown"] {
            let labels = ReadyLabels { kind: kind.into(), namespace: namespace.into(), name: name.into(), condition };
            self.resource_ready.get_or_create(&labels).set(i64::from(condition == status));
        }
    }

    /// Drops the series of a resource that is gone.
    pub fn forget_resource(&self, kind: &str, namespace: &str, name: &str) {
        for condition in ["True", "False", "Unknown"] {
            let labels = ReadyLabels { kind: kind.into(), namespace: namespace.into(), name: name.into(), condition };
            self.resource_ready.remove(&labels);
        }
    }

    /// Sets the entries declared per owner team: the [`MAX_TEAMS`] largest by name, the rest
    /// summed as `other`; teams no longer counted are dropped.
    pub fn entries_by_team(&self, counts: &std::collections::BTreeMap<String, usize>) {
        let mut largest: Vec<(&String, &usize)> = counts.iter().collect();
        largest.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
        self.entries_by_team.clear();
        let mut other = 0;
        for (i, (team, count)) in largest.into_iter().enumerate() {
            if i < MAX_TEAMS && team != "other" {
                self.entries_by_team.get_or_create(&TeamLabels { team: team.clone() }).set(*count as i64);
            } else {
                other += count;
            }
        }
        if other > 0 {
            self.entries_by_team.get_or_create(&TeamLabels { team: "other".into() }).set(other as i64);
        }
    }

    /// When the earliest active exception expires, if one is active.
    pub fn earliest_exception_expiry(&self, unix_seconds: Option<f64>) {
        self.earliest_exception_expiry.set(unix_seconds.unwrap_or(0.0));
    }
}

/// The source revision the binary was built from, when the build said (`SPIRE_STEWARD_REVISION`).
const REVISION: &str = match option_env!("SPIRE_STEWARD_REVISION") {
    Some(revision) => revision,
    None => "unknown",
};

/// SPIRE client calls feed the RPC metrics.
#[derive(Debug, Clone)]
pub struct SpireCalls(pub Arc<Metrics>);

impl CallObserver for SpireCalls {
    fn observe(&self, method: &'static str, code: tonic::Code, elapsed: Duration) {
        self.0.spire_requests.get_or_create(&RpcLabels { method, code: format!("{code:?}") }).inc();
        self.0.spire_latency.get_or_create(&MethodLabels { method }).observe(elapsed.as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_render_with_their_labels() {
        let metrics = Arc::new(Metrics::new());
        SpireCalls(metrics.clone()).observe("ListEntries", tonic::Code::Ok, Duration::from_millis(3));
        metrics.written("create", 2);
        metrics.drift_detected("missing", 1);
        metrics.drifted_entries("foreign", 2);
        metrics.error("spire_unavailable");
        let text = metrics.render();
        assert!(text.contains(r#"spire_steward_spire_requests_total{method="ListEntries",code="Ok"} 1"#), "{text}");
        assert!(text.contains(r#"spire_steward_entries_written_total{operation="create"} 2"#), "{text}");
        assert!(text.contains(r#"spire_steward_drift_detected_total{class="missing"} 1"#), "{text}");
        assert!(text.contains(r#"spire_steward_drifted_entries{class="foreign"} 2"#), "{text}");
        assert!(text.contains("spire_steward_spire_request_duration_seconds_bucket"), "{text}");
        assert!(text.contains(r#"spire_steward_reconcile_errors_total{category="spire_unavailable"} 1"#), "{text}");
    }

    #[test]
    fn unparsed_items_are_a_gauge_per_kind() {
        let metrics = Metrics::new();
        metrics.unparsed("entry", 3);
        metrics.unparsed("federation_relationship", 1);
        metrics.unparsed("entry", 2);
        let text = metrics.render();
        assert!(text.contains("# TYPE spire_steward_spire_items_unparsed gauge"), "{text}");
        assert!(text.contains("# HELP spire_steward_spire_items_unparsed Items of the last SPIRE listing"), "{text}");
        assert!(text.contains(r#"spire_steward_spire_items_unparsed{kind="entry"} 2"#), "{text}");
        assert!(text.contains(r#"spire_steward_spire_items_unparsed{kind="federation_relationship"} 1"#), "{text}");
    }
}
