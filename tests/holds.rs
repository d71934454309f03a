//! What is kept and what goes when part of the input fails, which resource wins when several
//! declare one entry, and kinds the configuration switches off.

mod support;

use std::{collections::BTreeSet, time::Duration};

use serde_json::json;
use support::{
    eventually,
    operator::{Operator, World, entries},
    testbed,
};

const WAIT: Duration = Duration::from_secs(30);

async fn paths(world: &World) -> BTreeSet<String> {
    entries(&testbed().spire(), &world.prefix).await.into_iter().map(|e| e.spiffe_id.path().to_owned()).collect()
}

async fn wait_paths(world: &World, operator: &Operator, want: &[&str]) {
    let want: BTreeSet<String> = want.iter().map(|p| p.to_string()).collect();
    let found = eventually(WAIT, || async { (paths(world).await == want).then_some(()) }).await;
    assert!(found.is_some(), "entries {:?}, want {want:?}\nlog:\n{}", paths(world).await, operator.log_text());
}

async fn wait_ready(world: &World, operator: &Operator, kind: &str, name: &str, want: (&str, &str)) -> String {
    let found = eventually(WAIT, || async {
        let c = world.condition(kind, name, "Ready").await?;
        (c.0 == want.0 && c.1 == want.1).then_some(c.2)
    })
    .await;
    found.unwrap_or_else(|| {
        panic!("{kind} {name} never reached Ready={want:?}; status: {}\nlog:\n{}", "", operator.log_text())
    })
}

fn identity(world: &World, template: &str, selector: serde_json::Value) -> serde_json::Value {
    json!({
        "className": world.class,
        "spiffeIDTemplate": template,
        "namespaceSelector": world.namespace_selector(),
        "podSelector": selector,
    })
}

#[tokio::test]
async fn a_render_failure_in_one_identity_keeps_only_what_that_identity_declared() {
    let bed = testbed();
    let mut world = World::new(bed).await;
    world.node("node").await;
    let (a, b) = (world.identity_name("a"), world.identity_name("b"));
    world
        .apply(
            "ClusterSPIFFEID",
            &a,
            identity(
                &world,
                "spiffe://{{ .TrustDomain }}/a/{{ .PodMeta.Name }}",
                json!({ "matchLabels": { "app": "web" } }),
            ),
        )
        .await;
    // B reads a label the pod may lose: then it renders `<no value>` and fails.
    world
        .apply(
            "ClusterSPIFFEID",
            &b,
            identity(&world, "spiffe://{{ .TrustDomain }}/b/{{ .PodMeta.Labels.team }}", json!({})),
        )
        .await;
    world.pod("web-2", &[("app", "web"), ("team", "shop")], Some("node")).await;
    let operator = Operator::start(bed, &world, &bed.spire_socket(), "");
    wait_paths(&world, &operator, &["/a/web-2", "/b/shop"]).await;

    // Out of A, and B cannot render: A's entry goes, B's stays until B renders again.
    world.relabel("web-2", &[("app", "other")]).await;
    wait_paths(&world, &operator, &["/b/shop"]).await;
    let message = wait_ready(&world, &operator, "ClusterSPIFFEID", &b, ("False", "InvalidSpec")).await;
    assert!(message.contains("<no value>"), "the rendered value is shown: {message}");
    wait_ready(&world, &operator, "ClusterSPIFFEID", &a, ("True", "Synced")).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(paths(&world).await, BTreeSet::from(["/b/shop".to_string()]));

    // B renders again with a new value: its old entry is replaced.
    world.relabel("web-2", &[("app", "other"), ("team", "books")]).await;
    wait_paths(&world, &operator, &["/b/books"]).await;
    world.clean_up().await;
}

#[tokio::test]
async fn an_identity_whose_every_entry_is_masked_reports_masked() {
    let bed = testbed();
    let world = World::with_one_pod(bed, "older").await;
    let operator = Operator::start(bed, &world, &bed.spire_socket(), "");
    wait_paths(&world, &operator, &["/pod/p-1"]).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let younger = world.identity_name("younger");
    world.apply("ClusterSPIFFEID", &younger, world.pod_identity_spec()).await;
    let message = wait_ready(&world, &operator, "ClusterSPIFFEID", &younger, ("False", "Masked")).await;
    assert!(message.contains("all 1 entries"), "{message}");
    assert_eq!(world.condition("ClusterSPIFFEID", &younger, "Stalled").await.map(|c| c.0), Some("True".into()));
    let status = world.status("ClusterSPIFFEID", &younger).await;
    assert_eq!(status["stats"]["entriesMasked"], 1, "{status}");
    wait_ready(&world, &operator, "ClusterSPIFFEID", &world.identity_name("older"), ("True", "Synced")).await;
    world.clean_up().await;
}

#[tokio::test]
async fn a_switched_off_kind_is_left_alone_and_its_status_says_so() {
    let bed = testbed();
    let world = World::with_one_pod(bed, "on").await;
    let pod_uid = world.pods().get("p-1").await.unwrap().metadata.uid.unwrap();
    let csid = world.identity_name("on");
    let cse = world.identity_name("static");
    world
        .apply(
            "ClusterStaticEntry",
            &cse,
            json!({
                "className": world.class,
                "spiffeID": "spiffe://example.org/static/sidecar",
                "parentID": "spiffe://example.org/spire/agent/x",
                "selectors": [format!("k8s:pod-uid:{pod_uid}"), "k8s:container-name:sidecar"],
            }),
        )
        .await;

    // Static entries off: the static entry is not written, even in the pod's scope.
    let mut operator = Operator::start(bed, &world, &bed.spire_socket(), "reconcile: {clusterStaticEntries: false}\n");
    wait_paths(&world, &operator, &["/pod/p-1"]).await;
    let message = wait_ready(&world, &operator, "ClusterStaticEntry", &cse, ("Unknown", "ReconcileDisabled")).await;
    assert!(message.contains("reconcile.clusterStaticEntries"), "{message}");
    wait_ready(&world, &operator, "ClusterSPIFFEID", &csid, ("True", "Synced")).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(paths(&world).await, BTreeSet::from(["/pod/p-1".to_string()]));
    operator.stop();

    // ClusterSPIFFEIDs off: the static entry is written, the pod's entry is left alone even
    // after its identity is deleted.
    let operator = Operator::start(bed, &world, &bed.spire_socket(), "reconcile: {clusterSPIFFEIDs: false}\n");
    wait_paths(&world, &operator, &["/pod/p-1", "/static/sidecar"]).await;
    wait_ready(&world, &operator, "ClusterSPIFFEID", &csid, ("Unknown", "ReconcileDisabled")).await;
    wait_ready(&world, &operator, "ClusterStaticEntry", &cse, ("True", "Synced")).await;
    world.delete("ClusterSPIFFEID", &csid).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(paths(&world).await, BTreeSet::from(["/pod/p-1".to_string(), "/static/sidecar".to_string()]));
    world.clean_up().await;
}
