//! At rest the operator calls SPIRE for nothing: writes to its resources' status (its own,
//! coming back through the watch, or another client's) plan nothing.

mod support;

use std::time::Duration;

use kube::api::{Patch, PatchParams};
use serde_json::json;
use support::{
    PrivateSpireServer, eventually,
    operator::{Operator, World, dynamic, free_port, metric},
    testbed,
};

#[tokio::test]
async fn status_writes_plan_nothing_and_call_spire_for_nothing() {
    let bed = testbed();
    let server = PrivateSpireServer::start(bed);
    let world = World::with_one_pod(bed, "quiet").await;
    let (csid, cse, cftd) = (world.identity_name("quiet"), world.identity_name("static"), world.identity_name("fed"));
    world
        .apply(
            "ClusterStaticEntry",
            &cse,
            json!({
                "className": world.class,
                "spiffeID": "spiffe://example.org/static/quiet",
                "parentID": "spiffe://example.org/spire/agent/x",
                "selectors": ["unix:uid:7"],
            }),
        )
        .await;
    world
        .apply(
            "ClusterFederatedTrustDomain",
            &cftd,
            json!({
                "className": world.class,
                "trustDomain": format!("{}.test", world.id),
                "bundleEndpointURL": "https://127.0.0.1:8443/bundle",
                "bundleEndpointProfile": { "type": "https_web" },
            }),
        )
        .await;
    let port = free_port();
    // No periodic check during the test: every SPIRE call would come from a change.
    let config = format!("gcInterval: 1h\nmetrics: {{bindAddress: '127.0.0.1:{port}'}}\n");
    let operator = Operator::start(bed, &world, &server.socket(), &config);
    for (kind, name) in
        [("ClusterSPIFFEID", &csid), ("ClusterStaticEntry", &cse), ("ClusterFederatedTrustDomain", &cftd)]
    {
        let ready = eventually(Duration::from_secs(30), || async {
            let c = world.condition(kind, name, "Ready").await?;
            (c.0 == "True").then_some(())
        })
        .await;
        assert!(ready.is_some(), "{kind} {name} never Ready\n{}", operator.log_text());
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let calls = metric(port, "spire_steward_spire_requests_total").await;
    let passes_log = operator.log_text().lines().count();

    // Another client adds a condition to each resource's status.
    let note = json!({ "status": { "conditions": [{
        "type": "Audited", "status": "True", "reason": "Audit", "message": "seen",
        "lastTransitionTime": "2026-01-01T00:00:00Z",
    }]}});
    for (kind, name) in
        [("ClusterSPIFFEID", &csid), ("ClusterStaticEntry", &cse), ("ClusterFederatedTrustDomain", &cftd)]
    {
        dynamic(&world.client, kind).patch_status(name, &PatchParams::default(), &Patch::Merge(&note)).await.unwrap();
    }
    tokio::time::sleep(Duration::from_secs(4)).await;
    let after = metric(port, "spire_steward_spire_requests_total").await;
    if after != calls {
        let (_, metrics) = support::operator::http_get(port, "/metrics").await.unwrap_or_default();
        let requests: Vec<&str> =
            metrics.lines().filter(|l| l.starts_with("spire_steward_spire_requests_total")).collect();
        panic!(
            "{calls} SPIRE calls before status-only writes, {after} after: {requests:#?}\n{}",
            operator.log_text().lines().skip(passes_log).collect::<Vec<_>>().join("\n")
        );
    }
    world.clean_up().await;
    drop(operator);
}

#[tokio::test]
async fn entries_nobody_touched_are_never_reported_as_drift() {
    let bed = testbed();
    let spire = bed.spire();
    let world = World::with_one_pod(bed, "steady").await;
    let mut spec = world.pod_identity_spec();
    // Not in sorted order: SPIRE answers writes with the names sorted but stores them as written,
    // and the first one is the certificate's common name.
    spec["dnsNameTemplates"] = json!(["zeta.{{ .PodMeta.Name }}.test", "alpha.{{ .PodMeta.Name }}.test", "mid.test"]);
    world.apply("ClusterSPIFFEID", &world.identity_name("steady"), spec).await;
    let port = free_port();
    let operator =
        Operator::start(bed, &world, &bed.spire_socket(), &format!("metrics: {{bindAddress: '127.0.0.1:{port}'}}\n"));
    let written = eventually(Duration::from_secs(30), || async {
        let now = support::operator::entries(&spire, &world.prefix).await;
        (now.len() == 1 && now[0].dns_names.len() == 3).then_some(now)
    })
    .await
    .unwrap_or_else(|| panic!("no entry\n{}", operator.log_text()));
    assert_eq!(written[0].dns_names, ["zeta.p-1.test", "alpha.p-1.test", "mid.test"], "stored as declared");
    // Several periodic checks (every 2 s here) later, nothing was called drift or rewritten.
    tokio::time::sleep(Duration::from_secs(7)).await;
    let log = operator.log_text();
    assert!(!log.contains("behind the operator's back"), "{log}");
    assert_eq!(metric(port, "spire_steward_drift_detected_total").await, 0.0, "{log}");
    assert_eq!(metric(port, "spire_steward_entries_written_total{operation=\"update\"}").await, 0.0, "{log}");
    world.clean_up().await;
}
