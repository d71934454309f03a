//! The pass played through scenarios with no server: inputs in memory, SPIRE's answers
//! simulated by taking each plan as written. Each step checks plans, statuses and Events.

use std::{
    collections::{BTreeMap, HashMap},
    sync::Arc,
};

use k8s_openapi::{
    api::core::v1::{Node, Pod, PodSpec},
    apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta},
};

use super::*;
use crate::{
    api::v1alpha1::ClusterSPIFFEIDSpec,
    reconcile::Source,
    render::PodIdentity,
    status::{Announcement, Health, IdentityState, announcement, health, identity_facts, tallies},
};

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

struct NoStatics;

impl StaticDeclarations for NoStatics {
    fn meta(&self, _: &str) -> Option<&crate::reconcile::SourceMeta> {
        None
    }

    fn declarations(&self, _: &Scope) -> (Vec<Declaration>, Hold) {
        (Vec::new(), Hold::Nothing)
    }

    fn declares_in(&self, _: &Scope) -> bool {
        false
    }
}

/// A cluster in memory, with SPIRE's entries in the index.
struct World {
    pods: HashMap<String, Arc<PodView>>,
    nodes: HashMap<String, Arc<Node>>,
    namespaces: HashMap<String, BTreeMap<String, String>>,
    identities: Vec<IdentitySource>,
    index: EntryIndex,
    records: HashMap<String, PodRecord>,
    config: Config,
    ownership: Ownership,
    /// The Ready reason last reported per identity, for Events.
    ready: HashMap<String, &'static str>,
    governance: crate::policy::Governance,
    now: k8s_openapi::jiff::Timestamp,
    ledger: crate::drift::Ledger,
}

impl Inputs for World {
    fn pod(&self, uid: &str) -> Option<Arc<PodView>> {
        self.pods.get(uid).cloned()
    }

    fn node(&self, name: &str) -> Option<Arc<Node>> {
        self.nodes.get(name).cloned()
    }

    fn namespace_labels(&self, name: &str) -> Option<BTreeMap<String, String>> {
        self.namespaces.get(name).cloned()
    }

    fn slices_in(&self, _: &str) -> Vec<Arc<k8s_openapi::api::discovery::v1::EndpointSlice>> {
        Vec::new()
    }
}

impl World {
    fn new(extra_config: &str) -> Self {
        let yaml = format!("trustDomain: example.org\nclusterName: c\nentryIDPrefix: ss\n{extra_config}");
        let config = crate::config::File::parse(&yaml).unwrap().validate().unwrap();
        let mut world = Self {
            pods: HashMap::new(),
            nodes: HashMap::new(),
            namespaces: HashMap::from([("shop".to_string(), labels(&[("team", "shop")]))]),
            identities: Vec::new(),
            index: EntryIndex::default(),
            records: HashMap::new(),
            ownership: Ownership::new("ss", vec![]),
            config,
            ready: HashMap::new(),
            governance: Default::default(),
            now: "2026-12-01T12:00:00Z".parse().unwrap(),
            ledger: Default::default(),
        };
        world.add_node("n1");
        world
    }

    fn add_node(&mut self, name: &str) {
        let node = Node {
            metadata: ObjectMeta { name: Some(name.into()), uid: Some(format!("{name}-uid")), ..Default::default() },
            ..Default::default()
        };
        self.nodes.insert(name.into(), Arc::new(node));
    }

    fn add_pod(&mut self, uid: &str, pairs: &[(&str, &str)]) {
        let pod = Pod {
            metadata: ObjectMeta {
                name: Some(format!("pod-{uid}")),
                namespace: Some("shop".into()),
                uid: Some(uid.into()),
                labels: Some(labels(pairs)),
                resource_version: Some("1".into()),
                ..Default::default()
            },
            spec: Some(PodSpec { node_name: Some("n1".into()), ..Default::default() }),
            ..Default::default()
        };
        self.pods.insert(uid.into(), Arc::new(PodView::from(pod)));
    }

    /// An identity selecting pods with `app=<app>`; `created_at` orders precedence.
    fn identity(&mut self, uid: &str, template: &str, app: &str, created_at: i64) {
        let spec = ClusterSPIFFEIDSpec {
            spiffe_id_template: template.into(),
            pod_selector: Some(LabelSelector { match_labels: Some(labels(&[("app", app)])), ..Default::default() }),
            ..Default::default()
        };
        let source = Source {
            kind: SourceKind::ClusterSPIFFEID,
            name: uid.into(),
            uid: uid.into(),
            created_at,
            deleting_at: None,
        };
        let identity = PodIdentity::parse(&spec).map(Arc::new).map_err(crate::reconcile::SpecError::from);
        self.identities.push(IdentitySource {
            source,
            meta: Default::default(),
            namespace: None,
            identity,
            suspended: false,
        });
        self.identities.sort_by(|a, b| a.source.precedence(&b.source));
    }

    /// Runs the pass on one pod's scope and takes its report in, as the worker does.
    fn pass(&mut self, uid: &str) -> Plan {
        let scope = Scope::Pod(uid.into());
        let snapshot = Snapshot {
            inputs: self,
            identities: &self.identities,
            statics: &NoStatics,
            index: &self.index,
            ownership: &self.ownership,
            config: &self.config,
            governance: &self.governance,
            now: self.now,
            ledger: Some(&self.ledger),
        };
        let mut outcomes = run(&snapshot, [&scope]);
        assert_eq!(outcomes.len(), 1);
        let outcome = outcomes.remove(0);
        match outcome.record {
            Some(record) => self.records.insert(uid.into(), record),
            None => self.records.remove(uid),
        };
        outcome.plan
    }

    /// SPIRE takes every write of the plan.
    fn write(&mut self, plan: &Plan) {
        for delete in &plan.deletes {
            self.index.remove(delete.entry.id.as_ref().unwrap());
        }
        for write in
            plan.creates.iter().map(|c| (&c.entry, &c.source)).chain(plan.updates.iter().map(|u| (&u.entry, &u.source)))
        {
            self.index.insert(write.0.clone());
            self.index.set_owner(write.0.id.as_ref().unwrap(), write.1);
        }
        for (id, source) in &plan.in_sync {
            self.index.set_owner(id, source);
        }
    }

    /// The identity's health, and the Event its change calls for.
    fn status(&mut self, uid: &str, refusals: &[&str], unavailable: Option<&str>) -> (Health, Option<Announcement>) {
        let tally = tallies(self.records.values()).remove(uid).unwrap_or_default();
        let state = IdentityState {
            enabled: self.config.reconcile.cluster_spiffe_ids,
            parsed: Some(Ok(())),
            tally,
            refusals: refusals.to_vec(),
            unavailable,
            ..Default::default()
        };
        let health = health(identity_facts(&state));
        let event = announcement(self.ready.get(uid).copied(), &health);
        if let Some(event) = &event {
            self.ready.insert(uid.into(), event.reason);
        }
        (health, event)
    }

    fn paths(&self, uid: &str) -> Vec<String> {
        let mut paths: Vec<String> =
            self.index.scope(&Scope::Pod(uid.into())).iter().map(|e| e.spiffe_id.path().to_owned()).collect();
        paths.sort();
        paths
    }
}

fn synced(message: &str) -> Health {
    Health::Synced { message: message.into() }
}

fn event(warning: bool, reason: &'static str) -> Option<(bool, &'static str)> {
    Some((warning, reason))
}

fn kind(a: Option<Announcement>) -> Option<(bool, &'static str)> {
    a.map(|a| (a.warning, a.reason))
}

#[test]
fn a_pod_arrives_is_relabelled_and_loses_its_node() {
    let mut world = World::new("");
    world.identity("web", "spiffe://example.org/web/{{ .PodMeta.Name }}", "web", 1);
    world.add_pod("p1", &[("app", "web")]);

    // Arrives: one entry to create; Synced with a Normal Event once written.
    let plan = world.pass("p1");
    assert_eq!(plan.creates.len(), 1);
    assert_eq!(plan.creates[0].entry.spiffe_id.path(), "/web/pod-p1");
    assert!(plan.creates[0].entry.id.as_ref().unwrap().as_str().starts_with("ss."));
    world.write(&plan);
    let (health, announced) = world.status("web", &[], None);
    assert_eq!(health, synced("1 entries in SPIRE for 1 selected pods"));
    assert_eq!(kind(announced), event(false, "Synced"));
    assert!(world.pass("p1").is_empty(), "planned again, nothing to write");
    assert_eq!(kind(world.status("web", &[], None).1), None, "no Event without a change");

    // Its node goes: nothing is deleted; the identity waits, with a Warning.
    world.nodes.remove("n1");
    let plan = world.pass("p1");
    assert!(plan.is_empty(), "{plan:?}");
    assert_eq!(plan.kept.len(), 1);
    let (health, announced) = world.status("web", &[], None);
    assert!(
        matches!(&health, Health::InputsIncomplete { message } if message.contains("node n1 is not known")),
        "{health:?}"
    );
    assert_eq!(kind(announced), event(true, "InputsIncomplete"));

    // The node is back, and the pod is relabelled out of the identity: its entry goes.
    world.add_node("n1");
    world.add_pod("p1", &[("app", "db")]);
    let plan = world.pass("p1");
    assert_eq!(plan.deletes.len(), 1);
    world.write(&plan);
    assert!(world.paths("p1").is_empty());
    let (health, announced) = world.status("web", &[], None);
    assert_eq!(health, synced("0 entries in SPIRE for 0 selected pods"));
    assert_eq!(kind(announced), event(false, "Synced"));

    // The pod is deleted: nothing is left to plan for it.
    world.pods.remove("p1");
    assert!(world.pass("p1").is_empty());
    assert!(!world.records.contains_key("p1"));
}

#[test]
fn a_younger_identity_declaring_the_same_entries_is_masked() {
    let mut world = World::new("");
    world.identity("old", "spiffe://example.org/web/{{ .PodMeta.Name }}", "web", 1);
    world.identity("young", "spiffe://example.org/web/{{ .PodMeta.Name }}", "web", 2);
    world.add_pod("p1", &[("app", "web")]);
    let plan = world.pass("p1");
    assert_eq!(plan.creates.len(), 1, "one entry for two declarations");
    assert_eq!(plan.creates[0].source.uid, "old");
    world.write(&plan);
    assert_eq!(world.status("old", &[], None).0, synced("1 entries in SPIRE for 1 selected pods"));
    let (health, announced) = world.status("young", &[], None);
    assert!(matches!(&health, Health::Masked { message } if message.contains("all 1 entries")), "{health:?}");
    assert_eq!(kind(announced), event(true, "Masked"));
}

#[test]
fn spire_refusing_and_spire_down_read_differently() {
    let mut world = World::new("");
    world.identity("web", "spiffe://example.org/web/{{ .PodMeta.Name }}", "web", 1);
    world.add_pod("p1", &[("app", "web")]);
    let plan = world.pass("p1");
    assert_eq!(plan.creates.len(), 1);

    // SPIRE is down: nothing was written; the identity is reconciling.
    let (health, announced) = world.status("web", &[], Some("connection refused"));
    assert!(matches!(&health, Health::SpireUnavailable { message } if message.contains("connection refused")));
    assert_eq!(kind(announced), event(true, "SpireUnavailable"));
    assert_eq!(world.pass("p1").creates.len(), 1, "the create is planned again");

    // SPIRE answers and refuses the entry: stalled, and it stays so while SPIRE goes away again.
    let refused = "spiffe://example.org/web/pod-p1: federated bundle missing";
    let (health, announced) = world.status("web", &[refused], None);
    assert!(matches!(&health, Health::SpireRejected { message } if message.contains("refused 1 entries")));
    assert_eq!(kind(announced), event(true, "SpireRejected"));
    assert!(matches!(world.status("web", &[refused], Some("down")).0, Health::SpireRejected { .. }));
}

#[test]
fn a_render_failure_holds_only_what_the_failing_identity_declared() {
    let mut world = World::new("");
    world.identity("a", "spiffe://example.org/a/{{ .PodMeta.Name }}", "web", 1);
    world.identity("b", "spiffe://example.org/b/{{ .PodMeta.Labels.team }}", "web", 2);
    world.add_pod("p1", &[("app", "web"), ("team", "shop")]);
    let plan = world.pass("p1");
    world.write(&plan);
    assert_eq!(world.paths("p1"), ["/a/pod-p1", "/b/shop"]);

    // B loses the label it renders (`<no value>`) while the pod leaves A: A's entry goes.
    world.identities.iter_mut().find(|i| i.source.uid == "a").unwrap().identity =
        PodIdentity::parse(&ClusterSPIFFEIDSpec {
            spiffe_id_template: "spiffe://example.org/a/{{ .PodMeta.Name }}".into(),
            pod_selector: Some(LabelSelector { match_labels: Some(labels(&[("app", "other")])), ..Default::default() }),
            ..Default::default()
        })
        .map(Arc::new)
        .map_err(crate::reconcile::SpecError::from);
    world.add_pod("p1", &[("app", "web")]);
    let plan = world.pass("p1");
    let deleted: Vec<&str> = plan.deletes.iter().map(|d| d.entry.spiffe_id.path()).collect();
    assert_eq!(deleted, ["/a/pod-p1"]);
    assert_eq!(plan.kept.len(), 1);
    assert_eq!(plan.kept[0].1.as_deref(), Some("b"));
    world.write(&plan);
    assert_eq!(world.paths("p1"), ["/b/shop"]);
    let (health, announced) = world.status("b", &[], None);
    assert!(
        matches!(&health, Health::InvalidSpec { message } if message.contains("<no value>") && message.contains("1 of 1")),
        "{health:?}"
    );
    assert_eq!(kind(announced), event(true, "InvalidSpec"));
    assert_eq!(world.status("a", &[], None).0, synced("0 entries in SPIRE for 0 selected pods"));
}

#[test]
fn a_switched_off_kind_neither_writes_nor_deletes() {
    let mut world = World::new("reconcile: {clusterSPIFFEIDs: false}\n");
    world.identity("web", "spiffe://example.org/web/{{ .PodMeta.Name }}", "web", 1);
    world.add_pod("p1", &[("app", "web")]);
    let mut stale = crate::spiffe::Entry::new(
        crate::spiffe::SpiffeId::parse("spiffe://example.org/old").unwrap(),
        crate::spiffe::SpiffeId::parse("spiffe://example.org/spire/agent/n1").unwrap(),
        vec![crate::spiffe::Selector::parse("k8s:pod-uid:p1").unwrap()],
    );
    stale.id = Some(crate::spiffe::EntryId::parse("ss.stale").unwrap());
    world.index.insert(stale);
    let plan = world.pass("p1");
    assert!(plan.is_empty(), "{plan:?}");
    assert_eq!(plan.kept.len(), 1, "the undeclared entry is left alone");
    let (health, announced) = world.status("web", &[], None);
    assert!(matches!(&health, Health::Disabled { message } if message.contains("reconcile.clusterSPIFFEIDs")));
    assert_eq!(kind(announced), event(false, "ReconcileDisabled"));
}

mod drift;
mod fail_closed;
mod governed;
mod tenants;
