//! Changes the operator's watches could not see: made while its API server was away, or so long
//! ago that the watch expired. After the re-list the entries must be exactly what the pods then
//! declare.

mod support;

use std::{collections::BTreeSet, time::Duration};

use kube::api::DeleteParams;
use support::{
    apiserver::PrivateApiServer,
    eventually,
    operator::{Operator, World, entries, free_port, metric},
    testbed,
};

const PODS: usize = 8;

/// The SPIFFE ID paths of the test's entries.
async fn paths(world: &World) -> BTreeSet<String> {
    entries(&testbed().spire(), &world.prefix).await.into_iter().map(|e| e.spiffe_id.path().to_owned()).collect()
}

fn expected(names: impl IntoIterator<Item = String>) -> BTreeSet<String> {
    names.into_iter().map(|n| format!("/pod/{n}")).collect()
}

/// The operator talks to a private API server; while it is away, half the pods are deleted and
/// as many created through the shared one. `compact` also compacts etcd before the server comes
/// back, so that the watches resume from a compacted revision.
async fn changes_while_away(flags: &[&str], compact: bool) {
    let bed = testbed();
    let mut world = World::new(bed).await;
    world.node("node").await;
    world.apply("ClusterSPIFFEID", &world.identity_name("relist"), world.pod_identity_spec()).await;
    for i in 0..PODS {
        world.pod(&format!("old-{i}"), &[], Some("node")).await;
    }
    let mut api = PrivateApiServer::start(bed, flags);
    let port = free_port();
    let operator = Operator::start_with_kubeconfig(
        bed,
        &world,
        &bed.spire_socket(),
        &format!("metrics: {{bindAddress: '127.0.0.1:{port}'}}\n"),
        "0",
        &api.kubeconfig,
    );
    let before = expected((0..PODS).map(|i| format!("old-{i}")));
    let first = eventually(Duration::from_secs(60), || async { (paths(&world).await == before).then_some(()) }).await;
    assert!(first.is_some(), "entries never matched the pods: {:?}\n{}", paths(&world).await, operator.log_text());
    let relists = metric(port, "spire_steward_watch_relists_total{kind=\"Pod\"}").await;

    api.stop();
    let now = DeleteParams { grace_period_seconds: Some(0), ..Default::default() };
    for i in 0..PODS / 2 {
        world.pods().delete(&format!("old-{i}"), &now).await.unwrap();
        world.pod(&format!("new-{i}"), &[], Some("node")).await;
    }
    if compact {
        api.compact_etcd();
    }
    api.resume();

    let after = expected((PODS / 2..PODS).map(|i| format!("old-{i}")).chain((0..PODS / 2).map(|i| format!("new-{i}"))));
    let settled = eventually(Duration::from_secs(60), || async { (paths(&world).await == after).then_some(()) }).await;
    assert!(
        settled.is_some(),
        "entries after the API server came back: {:?}, want {after:?}\noperator log:\n{}",
        paths(&world).await,
        operator.log_text()
    );
    let relisted = metric(port, "spire_steward_watch_relists_total{kind=\"Pod\"}").await;
    assert!(relisted > relists, "the pod watch listed again ({relists} -> {relisted})");
    // Nothing else moves afterwards.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(paths(&world).await, after);
    drop(operator);
    drop(api);
    world.clean_up().await;
}

#[tokio::test]
async fn changes_made_while_the_api_server_restarted_are_planned_after_the_re_list() {
    changes_while_away(&[], false).await;
}

#[tokio::test]
async fn a_watch_that_expired_on_a_compacted_etcd_is_listed_again_without_losing_changes() {
    // Without the watch cache, watches resume from etcd itself, which answers with an expiry
    // once the revision they resume from is compacted.
    changes_while_away(&["--watch-cache=false"], true).await;
}
