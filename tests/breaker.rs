//! The deletion circuit breaker on the real servers: a pass that would delete too many owned
//! entries is held (the entries stay in SPIRE, the identity says why and how to confirm), a
//! confirmation annotation releases it, a confirmed identity that is deleted takes its entries
//! with it, a small deletion is never held, and deletions whose resource is not known are
//! confirmed on the instance's state ConfigMap.

mod support;

use std::{collections::BTreeMap, time::Duration};

use kube::api::{Patch, PatchParams};
use serde_json::{Value, json};
use support::{
    audit::AuditLog,
    eventually,
    operator::{Operator, World, dynamic, entries, free_port, metric},
    testbed,
};

const WAIT: Duration = Duration::from_secs(60);
const ANNOTATION: &str = "spire-steward.io/confirm-deletions";

/// An identity for the pods of the test's namespace labelled `app`.
fn identity(world: &World, app: &str) -> Value {
    let mut spec = world.pod_identity_spec();
    spec["podSelector"] = json!({ "matchLabels": { "app": app } });
    spec
}

/// Applies a ClusterSPIFFEID with annotations, as a manifest would.
async fn apply_annotated(world: &World, name: &str, spec: Value, annotations: &[(&str, &str)]) {
    let annotations: BTreeMap<&str, &str> = annotations.iter().copied().collect();
    let body = json!({
        "apiVersion": "spire-steward.io/v1alpha1",
        "kind": "ClusterSPIFFEID",
        "metadata": { "name": name, "annotations": annotations },
        "spec": spec,
    });
    dynamic(&world.client, "ClusterSPIFFEID")
        .patch(name, &PatchParams::apply("spire-steward-tests").force(), &Patch::Apply(&body))
        .await
        .unwrap();
}

/// `kubectl annotate`.
async fn annotate(world: &World, name: &str, value: &str) {
    let patch = json!({ "metadata": { "annotations": { ANNOTATION: value } } });
    dynamic(&world.client, "ClusterSPIFFEID")
        .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
}

async fn pods(world: &World, prefix: &str, count: usize, app: &str) {
    for i in 0..count {
        world.pod(&format!("{prefix}-{i}"), &[("app", app)], Some("node")).await;
    }
}

async fn wait_count(world: &World, operator: &Operator, want: usize) {
    let spire = testbed().spire();
    let found = eventually(WAIT, || async { (entries(&spire, &world.prefix).await.len() == want).then_some(()) }).await;
    assert!(
        found.is_some(),
        "SPIRE holds {} entries, want {want}\nlog:\n{}",
        entries(&spire, &world.prefix).await.len(),
        operator.log_text()
    );
}

async fn wait_metric(port: u16, operator: &Operator, name: &str, want: f64) {
    let found = eventually(WAIT, || async { (metric(port, name).await == want).then_some(()) }).await;
    assert!(found.is_some(), "{name} is {}, want {want}\nlog:\n{}", metric(port, name).await, operator.log_text());
}

fn with_metrics(port: u16) -> String {
    format!("metrics: {{bindAddress: '127.0.0.1:{port}'}}\n")
}

#[tokio::test]
async fn narrowing_an_identity_holds_its_deletions_until_confirmed_while_creates_go() {
    let bed = testbed();
    let mut world = World::new(bed).await;
    world.node("node").await;
    let name = world.identity_name("wide");
    world.apply("ClusterSPIFFEID", &name, identity(&world, "a")).await;
    pods(&world, "a", 100, "a").await;
    pods(&world, "b", 5, "b").await;
    let port = free_port();
    let audit = AuditLog::new(&world);
    let operator =
        Operator::start(bed, &world, &bed.spire_socket(), &format!("{}{}", with_metrics(port), audit.config()));
    wait_count(&world, &operator, 100).await;
    world.wait_ready(&operator, "ClusterSPIFFEID", &name, ("True", "Synced")).await;

    // Narrowed to the five other pods: 100 of 100 owned entries would go in one pass.
    world.apply("ClusterSPIFFEID", &name, identity(&world, "b")).await;
    wait_count(&world, &operator, 105).await;
    let message = world.wait_ready(&operator, "ClusterSPIFFEID", &name, ("False", "DeletionHeld")).await;
    assert_eq!(
        message,
        "100 entry deletions held (100 of 100 owned entries in one pass, above 25%); confirm with annotation \
         spire-steward.io/confirm-deletions=100"
    );
    let stalled = world.condition("ClusterSPIFFEID", &name, "Stalled").await;
    assert_eq!(stalled.map(|c| (c.0, c.1)), Some(("True".into(), "DeletionHeld".into())));
    world.wait_event_within(&operator, &name, ("Warning", "DeletionHeld"), WAIT).await;
    wait_metric(port, &operator, "spire_steward_deletions_held", 100.0).await;
    // The creates went: the five new pods have their entries.
    let spire = bed.spire();
    let paths: Vec<String> =
        entries(&spire, &world.prefix).await.iter().map(|e| e.spiffe_id.path().to_owned()).collect();
    for i in 0..5 {
        assert!(paths.contains(&format!("/pod/b-{i}")), "{paths:?}");
    }
    // Periodic checks come and go (every 2s): the deletions stay held, announced once.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(entries(&spire, &world.prefix).await.len(), 105);
    let held_events = world.events_about(&name).await.iter().filter(|e| e.1 == "DeletionHeld").count();
    assert_eq!(held_events, 1, "one Event for one held pass");
    // The audit: each held deletion once (the re-checks add none), and the held pass itself.
    let held = audit.matching(|r| r["action"] == "delete" && r["outcome"] == "held");
    assert_eq!(held.len(), 100, "{held:#?}");
    assert!(held.iter().all(|r| r["resource"]["name"] == name.as_str() && r["entryID"].is_string()), "{held:#?}");
    let pass = audit.matching(|r| r["action"] == "deletion-held");
    assert_eq!(pass.len(), 1, "{pass:#?}");
    assert_eq!((&pass[0]["outcome"], &pass[0]["reason"]), (&json!("held"), &json!("mass-deletion")));
    assert_eq!(pass[0]["resource"]["kind"], "ClusterSPIFFEID");
    assert!(pass[0]["message"].as_str().unwrap().contains("100 entry deletions held"), "{pass:#?}");

    // A confirmation of fewer deletions than held releases nothing.
    annotate(&world, &name, "99").await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(entries(&spire, &world.prefix).await.len(), 105);

    annotate(&world, &name, "100").await;
    wait_count(&world, &operator, 5).await;
    world.wait_ready(&operator, "ClusterSPIFFEID", &name, ("True", "Synced")).await;
    assert_eq!(world.condition("ClusterSPIFFEID", &name, "Stalled").await, None);
    world.wait_event_within(&operator, &name, ("Normal", "DeletionConfirmed"), WAIT).await;
    wait_metric(port, &operator, "spire_steward_deletions_held", 0.0).await;
    let confirmed = audit.wait(&operator, "the confirmation", |r| r["action"] == "deletion-confirmed").await;
    assert_eq!((&confirmed["outcome"], &confirmed["reason"]), (&json!("success"), &json!("confirmed")));
    assert!(confirmed["message"].as_str().unwrap().contains("spire-steward.io/confirm-deletions=100"), "{confirmed}");
    let deleted = audit
        .wait_count(&operator, "the released deletions", 100, |r| r["action"] == "delete" && r["outcome"] == "success")
        .await;
    assert_eq!(deleted.len(), 100);
    assert!(deleted.iter().all(|r| r["reason"] == "declaration-changed"), "{deleted:#?}");
    world.clean_up().await;
}

#[tokio::test]
async fn a_confirmed_identity_takes_its_entries_when_deleted_and_an_unconfirmed_one_is_recovered() {
    let bed = testbed();
    let mut world = World::new(bed).await;
    world.node("node").await;
    let (confirmed, unconfirmed) = (world.identity_name("confirmed"), world.identity_name("unconfirmed"));
    apply_annotated(&world, &confirmed, identity(&world, "c"), &[(ANNOTATION, "all")]).await;
    world.apply("ClusterSPIFFEID", &unconfirmed, identity(&world, "u")).await;
    pods(&world, "c", 30, "c").await;
    pods(&world, "u", 30, "u").await;
    let audit = AuditLog::new(&world);
    let operator = Operator::start(bed, &world, &bed.spire_socket(), &audit.config());
    wait_count(&world, &operator, 60).await;
    world.wait_ready(&operator, "ClusterSPIFFEID", &confirmed, ("True", "Synced")).await;

    // Deleting the confirmed identity deletes its 30 entries (half of those owned).
    world.delete("ClusterSPIFFEID", &confirmed).await;
    wait_count(&world, &operator, 30).await;
    world.wait_event_within(&operator, &confirmed, ("Normal", "DeletionConfirmed"), WAIT).await;
    let gone = audit.matching(|r| r["action"] == "delete" && r["resource"]["name"] == confirmed.as_str());
    assert_eq!(gone.len(), 30, "{gone:#?}");
    assert!(gone.iter().all(|r| r["outcome"] == "success" && r["reason"] == "identity-deleted"), "{gone:#?}");

    // Deleted without the annotation: 30 of 30 owned entries are held, the Event regards the
    // deleted object.
    world.delete("ClusterSPIFFEID", &unconfirmed).await;
    world.wait_event_within(&operator, &unconfirmed, ("Warning", "DeletionHeld"), WAIT).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(entries(&bed.spire(), &world.prefix).await.len(), 30, "the deletions are held");

    // The recovery: apply it again with the annotation (its entries are declared again and in
    // sync), then delete it.
    apply_annotated(&world, &unconfirmed, identity(&world, "u"), &[(ANNOTATION, "all")]).await;
    world.wait_ready(&operator, "ClusterSPIFFEID", &unconfirmed, ("True", "Synced")).await;
    assert_eq!(entries(&bed.spire(), &world.prefix).await.len(), 30, "nothing was created twice");
    world.delete("ClusterSPIFFEID", &unconfirmed).await;
    wait_count(&world, &operator, 0).await;
    world.clean_up().await;
}

#[tokio::test]
async fn a_deletion_below_the_minimum_count_is_never_held() {
    let bed = testbed();
    let mut world = World::new(bed).await;
    world.node("node").await;
    let name = world.identity_name("small");
    world.apply("ClusterSPIFFEID", &name, identity(&world, "s")).await;
    pods(&world, "s", 10, "s").await;
    let operator = Operator::start(bed, &world, &bed.spire_socket(), "");
    wait_count(&world, &operator, 10).await;
    // Every owned entry at once, but fewer than minDeletions (20).
    world.delete("ClusterSPIFFEID", &name).await;
    wait_count(&world, &operator, 0).await;
    assert!(!world.events_about(&name).await.iter().any(|e| e.1 == "DeletionHeld"));
    world.clean_up().await;
}

/// An identity deleted while the operator was stopped: after the restart nothing tells whose
/// its entries were, so no identity can confirm their deletion. The breaker holds them and says
/// so on the instance's state ConfigMap, whose annotation releases them.
#[tokio::test]
async fn deletions_whose_resource_is_not_known_are_confirmed_on_the_state() {
    let bed = testbed();
    let mut world = World::new(bed).await;
    world.node("node").await;
    let name = world.identity_name("gone");
    world.apply("ClusterSPIFFEID", &name, identity(&world, "g")).await;
    pods(&world, "g", 30, "g").await;
    let audit = AuditLog::new(&world);
    let port = free_port();
    let config = format!("{}{}", audit.config(), with_metrics(port));
    let mut operator = Operator::start(bed, &world, &bed.spire_socket(), &config);
    wait_count(&world, &operator, 30).await;
    operator.stop();
    world.delete("ClusterSPIFFEID", &name).await;

    let operator = Operator::start(bed, &world, &bed.spire_socket(), &config);
    let state = format!("{}-state", world.lease());
    world.wait_event_within(&operator, &state, ("Warning", "DeletionHeld"), WAIT).await;
    wait_metric(port, &operator, "spire_steward_deletions_held", 30.0).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(entries(&bed.spire(), &world.prefix).await.len(), 30, "the deletions are held");
    let held = audit.matching(|r| r["action"] == "delete" && r["outcome"] == "held");
    assert_eq!(held.len(), 30, "{held:#?}");
    assert!(held.iter().all(|r| r.get("resource").is_none()), "no resource is known: {:#}", held[0]);
    let announced = audit.matching(|r| r["action"] == "deletion-held");
    assert_eq!(announced.len(), 1, "{announced:#?}");
    assert_eq!(announced[0]["resource"]["kind"], "ConfigMap");
    assert_eq!(announced[0]["resource"]["name"], state.as_str());
    let message = announced[0]["message"].as_str().unwrap();
    assert!(
        message.starts_with("30 deletions of entries whose resource is not known held (30 of 30 owned entries")
            && message.ends_with(&format!("confirm with annotation {ANNOTATION}=30")),
        "{message}"
    );

    // Too few confirmed: still held. As many: released, and recorded.
    let states: kube::Api<k8s_openapi::api::core::v1::ConfigMap> =
        kube::Api::namespaced(world.client.clone(), &world.namespace);
    let confirm = |value: &str| json!({ "metadata": { "annotations": { ANNOTATION: value } } });
    states.patch(&state, &PatchParams::default(), &Patch::Merge(&confirm("29"))).await.unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(entries(&bed.spire(), &world.prefix).await.len(), 30, "29 confirms fewer than held");
    states.patch(&state, &PatchParams::default(), &Patch::Merge(&confirm("30"))).await.unwrap();
    wait_count(&world, &operator, 0).await;
    world.wait_event_within(&operator, &state, ("Normal", "DeletionConfirmed"), WAIT).await;
    wait_metric(port, &operator, "spire_steward_deletions_held", 0.0).await;
    let confirmed = audit.matching(|r| r["action"] == "deletion-confirmed");
    assert_eq!(confirmed.len(), 1, "{confirmed:#?}");
    assert_eq!(confirmed[0]["resource"]["name"], state.as_str());
    let deleted = audit.matching(|r| r["action"] == "delete" && r["outcome"] == "success");
    assert_eq!(deleted.len(), 30, "{deleted:#?}");
    // The confirmation is spent: removed, so it cannot release a later mass deletion.
    let removed = eventually(WAIT, || async {
        let cm = states.get(&state).await.unwrap();
        (!cm.metadata.annotations.unwrap_or_default().contains_key(ANNOTATION)).then_some(())
    })
    .await;
    assert!(removed.is_some(), "the spent confirmation stayed\nlog:\n{}", operator.log_text());
    world.clean_up().await;
}

/// Unexpected entries (under the prefix, declared by nothing) in numbers the breaker holds stay
/// drift while held: once the instance confirms them they are deleted as drift repaired.
#[tokio::test]
async fn held_unexpected_entries_are_deleted_as_drift_repaired_once_confirmed() {
    let bed = testbed();
    let mut world = World::new(bed).await;
    world.node("node").await;
    let name = world.identity_name("few");
    world.apply("ClusterSPIFFEID", &name, identity(&world, "f")).await;
    pods(&world, "f", 5, "f").await;
    let audit = AuditLog::new(&world);
    let port = free_port();
    let config = format!("gcInterval: 1s\n{}{}", audit.config(), with_metrics(port));
    let operator = Operator::start(bed, &world, &bed.spire_socket(), &config);
    wait_count(&world, &operator, 5).await;
    let spire = bed.spire();
    let template = entries(&spire, &world.prefix).await.remove(0);
    let strays: Vec<spire_steward::spiffe::Entry> = (0..25)
        .map(|i| {
            let mut e = template.clone();
            e.id = Some(spire_steward::spiffe::EntryId::parse(&format!("{}.stray{i}", world.prefix)).unwrap());
            e.spiffe_id =
                spire_steward::spiffe::SpiffeId::parse(&format!("spiffe://{}/stray/{i}", bed.trust_domain())).unwrap();
            e
        })
        .collect();
    let created = spire.batch_create_entries(&strays).await.unwrap();
    assert!(created.iter().all(|c| matches!(c, spire_steward::spire::CreateOutcome::Created(_))), "{created:?}");

    let state = format!("{}-state", world.lease());
    world.wait_event_within(&operator, &state, ("Warning", "DeletionHeld"), WAIT).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(entries(&spire, &world.prefix).await.len(), 30, "25 of 30 owned entries: held");
    // Held, the entries stand as Unexpected drift.
    wait_metric(port, &operator, r#"spire_steward_drifted_entries{class="unexpected"}"#, 25.0).await;
    let states: kube::Api<k8s_openapi::api::core::v1::ConfigMap> =
        kube::Api::namespaced(world.client.clone(), &world.namespace);
    let patch = json!({ "metadata": { "annotations": { ANNOTATION: "all" } } });
    states.patch(&state, &PatchParams::default(), &Patch::Merge(&patch)).await.unwrap();
    wait_count(&world, &operator, 5).await;
    let deleted = audit.matching(|r| r["action"] == "delete" && r["outcome"] == "success");
    assert_eq!(deleted.len(), 25, "{deleted:#?}");
    assert!(deleted.iter().all(|r| r["reason"] == "drift-repaired"), "{deleted:#?}");
    // Found once, while held across re-judgments, and announced once.
    assert_eq!(metric(port, r#"spire_steward_drift_detected_total{class="unexpected"}"#).await, 25.0);
    assert!(audit.matching(|r| r["action"] == "drift-detected").is_empty(), "repaired under Enforce, not reported");
    world.clean_up().await;
}
