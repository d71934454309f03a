//! Observe mode on the real servers: the operator plans and reports what it would write and
//! writes nothing to SPIRE; restarted in Enforce, it applies the plan.

mod support;

use std::time::Duration;

use serde_json::json;
use support::{
    audit::AuditLog,
    eventually,
    operator::{Operator, World, entries, free_port, metric},
    testbed,
};

const WAIT: Duration = Duration::from_secs(30);

fn config(port: u16, mode: &str, audit: &AuditLog) -> String {
    format!("mode: {mode}\nmetrics: {{bindAddress: '127.0.0.1:{port}'}}\n{}", audit.config())
}

async fn wait_metric(port: u16, operator: &Operator, name: &str, want: f64) {
    let found = eventually(WAIT, || async { (metric(port, name).await == want).then_some(()) }).await;
    assert!(found.is_some(), "{name} is {}, want {want}\nlog:\n{}", metric(port, name).await, operator.log_text());
}

#[tokio::test]
async fn observe_mode_reports_pending_writes_and_writes_nothing_until_enforced() {
    let bed = testbed();
    let mut world = World::new(bed).await;
    world.node("node").await;
    let name = world.identity_name("id");
    world.apply("ClusterSPIFFEID", &name, world.pod_identity_spec()).await;
    for pod in ["p-1", "p-2", "p-3"] {
        world.pod(pod, &[], Some("node")).await;
    }
    let spire = bed.spire();
    let audit = AuditLog::new(&world);
    let of = |action: &'static str, outcome: &'static str| {
        move |r: &serde_json::Value| r["action"] == action && r["outcome"] == outcome
    };

    let port = free_port();
    let mut operator = Operator::start(bed, &world, &bed.spire_socket(), &config(port, "Observe", &audit));
    let message = world.wait_ready(&operator, "ClusterSPIFFEID", &name, ("False", "Observing")).await;
    assert_eq!(message, "observe mode: 3 entries would be created, 0 updated, 0 deleted; nothing is written to SPIRE");
    for transient in ["Stalled", "Reconciling"] {
        assert_eq!(world.condition("ClusterSPIFFEID", &name, transient).await, None, "{transient}");
    }
    wait_metric(port, &operator, r#"spire_steward_pending_writes{action="create"}"#, 3.0).await;
    // Periodic checks pass; SPIRE stays as it was.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(entries(&spire, &world.prefix).await.is_empty(), "nothing is written in observe mode");
    assert_eq!(metric(port, "spire_steward_entries_written_total").await, 0.0);
    // Each observed write is recorded once, however often it is planned.
    let observed = audit.matching(of("create", "observed"));
    assert_eq!(observed.len(), 3, "{observed:#?}");
    assert!(observed.iter().all(|r| r["resource"]["name"] == name.as_str() && r["reason"] == "pod-created"));
    operator.stop();

    // Enforce applies the plan.
    let port = free_port();
    let mut operator = Operator::start(bed, &world, &bed.spire_socket(), &config(port, "Enforce", &audit));
    world.wait_ready(&operator, "ClusterSPIFFEID", &name, ("True", "Synced")).await;
    assert_eq!(entries(&spire, &world.prefix).await.len(), 3);
    audit.wait_count(&operator, "the creates applied", 3, of("create", "success")).await;
    operator.stop();

    // A change observed: the updates are counted, SPIRE keeps the old TTLs.
    let mut spec = world.pod_identity_spec();
    spec["ttl"] = serde_json::json!("2h");
    world.apply("ClusterSPIFFEID", &name, spec).await;
    let port = free_port();
    let mut operator = Operator::start(bed, &world, &bed.spire_socket(), &config(port, "Observe", &audit));
    let message = world.wait_ready(&operator, "ClusterSPIFFEID", &name, ("False", "Observing")).await;
    assert_eq!(message, "observe mode: 0 entries would be created, 3 updated, 0 deleted; nothing is written to SPIRE");
    wait_metric(port, &operator, r#"spire_steward_pending_writes{action="update"}"#, 3.0).await;
    assert!(entries(&spire, &world.prefix).await.iter().all(|e| e.x509_svid_ttl == 0));
    let observed = audit.matching(of("update", "observed"));
    assert_eq!(observed.len(), 3, "{observed:#?}");
    assert!(observed.iter().all(|r| r["fields"] == json!(["x509SVIDTTL"])), "{observed:#?}");
    operator.stop();

    let port = free_port();
    let operator = Operator::start(bed, &world, &bed.spire_socket(), &config(port, "Enforce", &audit));
    world.wait_ready(&operator, "ClusterSPIFFEID", &name, ("True", "Synced")).await;
    let ttls: Vec<i32> = entries(&spire, &world.prefix).await.iter().map(|e| e.x509_svid_ttl).collect();
    assert_eq!(ttls, [7200, 7200, 7200]);
    let updated = audit.wait_count(&operator, "the updates applied", 3, of("update", "success")).await;
    assert!(updated.iter().all(|r| r["reason"] == "declaration-changed"), "{updated:#?}");
    world.clean_up().await;
}
