//! Time-boxed exceptions on the real servers: in force strictly before `expiresAt`, lapsed
//! within a second of the instant with the operator running, lapsed at start-up when the instant
//! passed while it was down, refused when longer than the policy allows, and never deleted.

mod support;

use std::{collections::BTreeSet, time::Duration};

use k8s_openapi::jiff::{SignedDuration, Timestamp, Unit};
use serde_json::{Value, json};
use support::{
    eventually,
    operator::{Operator, World, dynamic, entries},
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

/// `seconds` from now, in whole seconds.
fn in_seconds(seconds: i64) -> Timestamp {
    Timestamp::now().checked_add(SignedDuration::from_secs(seconds)).unwrap().round(Unit::Second).unwrap()
}

fn legacy_identity(world: &World, name: &str) -> Value {
    json!({
        "className": world.class,
        "spiffeIDTemplate": format!("spiffe://{{{{ .TrustDomain }}}}/legacy/{name}/{{{{ .PodMeta.Name }}}}"),
        "namespaceSelector": world.namespace_selector(),
    })
}

/// A policy of this test's namespace that allows only `/ns/**`.
fn strict_policy(world: &World, max_exception: Option<&str>) -> Value {
    let mut spec = json!({
        "className": world.class,
        "match": { "namespaceSelector": world.namespace_selector() },
        "spiffeIDs": { "allow": ["/ns/**"] },
    });
    if let Some(max) = max_exception {
        spec["maxExceptionDuration"] = json!(max);
    }
    spec
}

fn exception(world: &World, target: &str, expires: Timestamp) -> Value {
    json!({
        "className": world.class,
        "target": { "kind": "ClusterSPIFFEID", "name": target },
        "relaxations": { "extraAllow": ["/legacy/**"] },
        "expiresAt": expires.to_string(),
        "owner": "team-billing",
        "justification": "the legacy billing workers keep their old names until the migration",
        "ticket": "BILL-1234",
    })
}

#[tokio::test]
async fn an_exception_lapses_at_its_instant_running_or_across_a_restart() {
    let bed = testbed();
    let mut world = World::new(bed).await;
    world.node("node").await;
    let (live, down, pol) = (world.identity_name("live"), world.identity_name("down"), world.identity_name("pol"));
    let (exc_live, exc_down) = (world.identity_name("exc-live"), world.identity_name("exc-down"));
    world.apply("ClusterSPIFFEID", &live, legacy_identity(&world, "live")).await;
    world.apply("ClusterSPIFFEID", &down, legacy_identity(&world, "down")).await;
    world.apply("IdentityPolicy", &pol, strict_policy(&world, None)).await;
    let live_expires = in_seconds(14);
    let down_expires = in_seconds(24);
    world.apply("IdentityException", &exc_live, exception(&world, &live, live_expires)).await;
    world.apply("IdentityException", &exc_down, exception(&world, &down, down_expires)).await;
    world.pod("p-1", &[], Some("node")).await;
    // A warning window of 8 s: the first exception enters it while the test watches.
    let config = "exceptionWarningWindow: 8s\n";
    let mut operator = Operator::start(bed, &world, &bed.spire_socket(), config);
    wait_paths(&world, &operator, &["/legacy/down/p-1", "/legacy/live/p-1"]).await;
    let message = world.wait_ready(&operator, "IdentityException", &exc_live, ("True", "Active")).await;
    assert!(message.contains(&live_expires.to_string()) && message.contains("1 entries rely on it"), "{message}");
    let status = world.status("IdentityException", &exc_live).await;
    assert_eq!(status["relaxationsUsed"], json!(["extraAllow"]), "{status}");
    assert_eq!(status["entriesRelaxed"], 1, "{status}");

    // Inside the warning window: ExpiringSoon, with one Warning Event.
    world.wait_ready(&operator, "IdentityException", &exc_live, ("True", "ExpiringSoon")).await;
    assert_eq!(world.condition("IdentityException", &exc_live, "ExpiringSoon").await.map(|c| c.0), Some("True".into()));

    // The instant: the entry goes within a second, with the operator running.
    let gone = eventually(Duration::from_secs(30), || async {
        (!paths(&world).await.contains("/legacy/live/p-1")).then(Timestamp::now)
    })
    .await
    .expect("the entry was never removed");
    let late = gone.duration_since(live_expires);
    println!("entry removed {late:?} after the exception's expiresAt");
    assert!(late >= SignedDuration::ZERO, "removed {late:?} before the instant");
    assert!(late < SignedDuration::from_secs(1), "removed {late:?} after the instant");
    let message = world.wait_ready(&operator, "IdentityException", &exc_live, ("False", "Expired")).await;
    assert!(message.contains("Create a new exception"), "{message}");
    assert_eq!(world.condition("IdentityException", &exc_live, "Stalled").await.map(|c| c.0), Some("True".into()));
    assert_eq!(world.condition("IdentityException", &exc_live, "Expired").await.map(|c| c.0), Some("True".into()));
    world.wait_ready(&operator, "ClusterSPIFFEID", &live, ("False", "PolicyDenied")).await;
    let on_exception = eventually(WAIT, || async {
        let events = world.events_about(&exc_live).await;
        events.iter().any(|(_, r)| r == "Expired").then_some(events)
    })
    .await
    .expect("no Expired Event on the exception");
    let warnings = on_exception.iter().filter(|(t, r)| t == "Warning" && r == "ExpiringSoon").count();
    assert_eq!(warnings, 1, "one ExpiringSoon Warning: {on_exception:?}");
    let on_target = eventually(WAIT, || async {
        world
            .events_about(&live)
            .await
            .iter()
            .any(|e| e == &("Warning".into(), "ExceptionExpired".into()))
            .then_some(())
    })
    .await;
    assert!(on_target.is_some(), "no ExceptionExpired Event on the target: {:?}", world.events_about(&live).await);

    // The operator is down across the second instant: at start-up it judges at the clock.
    operator.stop();
    let left = down_expires.duration_since(Timestamp::now());
    tokio::time::sleep(Duration::try_from(left).unwrap_or_default() + Duration::from_secs(1)).await;
    assert!(paths(&world).await.contains("/legacy/down/p-1"), "no one removed it while the operator was down");
    let operator = Operator::start(bed, &world, &bed.spire_socket(), config);
    wait_paths(&world, &operator, &[]).await;
    world.wait_ready(&operator, "IdentityException", &exc_down, ("False", "Expired")).await;
    world.wait_ready(&operator, "ClusterSPIFFEID", &down, ("False", "PolicyDenied")).await;

    // Exceptions stay on record.
    for name in [&exc_live, &exc_down] {
        assert!(dynamic(&world.client, "IdentityException").get(name).await.is_ok(), "{name} was deleted");
    }
    for (kind, name) in [("IdentityException", &exc_live), ("IdentityException", &exc_down), ("IdentityPolicy", &pol)] {
        world.delete(kind, name).await;
    }
    world.clean_up().await;
}

#[tokio::test]
async fn an_exception_longer_than_the_policy_allows_relaxes_nothing() {
    let bed = testbed();
    let mut world = World::new(bed).await;
    world.node("node").await;
    let (id, pol, exc) = (world.identity_name("legacy"), world.identity_name("pol"), world.identity_name("exc"));
    world.apply("ClusterSPIFFEID", &id, legacy_identity(&world, "x")).await;
    world.apply("IdentityPolicy", &pol, strict_policy(&world, Some("1h"))).await;
    world.apply("IdentityException", &exc, exception(&world, &id, in_seconds(2 * 3600))).await;
    world.pod("p-1", &[], Some("node")).await;
    let operator = Operator::start(bed, &world, &bed.spire_socket(), "");
    world.wait_ready(&operator, "ClusterSPIFFEID", &id, ("False", "PolicyDenied")).await;
    let message = world.wait_ready(&operator, "IdentityException", &exc, ("False", "TermTooLong")).await;
    assert!(message.contains(&pol) && message.contains("maxExceptionDuration"), "{message}");
    assert_eq!(world.condition("IdentityException", &exc, "Stalled").await.map(|c| c.0), Some("True".into()));
    world.wait_ready(&operator, "ClusterSPIFFEID", &id, ("False", "PolicyDenied")).await;
    assert!(paths(&world).await.is_empty());
    for (kind, name) in [("IdentityException", &exc), ("IdentityPolicy", &pol)] {
        world.delete(kind, name).await;
    }
    world.clean_up().await;
}
