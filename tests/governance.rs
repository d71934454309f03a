//! Registration policy on the real servers: what a denial, a clamp, an Audit policy and an
//! invalid policy do to the entries in SPIRE and to status, and the policy's own status.
//!
//! Each test's policies carry its operator class, as its identities do, and select only its own
//! namespace.

mod support;

use std::{collections::BTreeMap, time::Duration};

use serde_json::{Value, json};
use support::{
    eventually,
    operator::{Operator, World, entries},
    testbed,
};

const WAIT: Duration = Duration::from_secs(30);

async fn by_path(world: &World) -> BTreeMap<String, spire_steward::spiffe::Entry> {
    entries(&testbed().spire(), &world.prefix).await.into_iter().map(|e| (e.spiffe_id.path().to_owned(), e)).collect()
}

/// Waits until SPIRE holds exactly `want` (paths and X509 TTLs) under the test's prefix.
async fn wait_entries(world: &World, operator: &Operator, want: &[(&str, i32)]) {
    let want: BTreeMap<String, i32> = want.iter().map(|(p, t)| (p.to_string(), *t)).collect();
    let got = || async {
        by_path(world).await.into_iter().map(|(p, e)| (p, e.x509_svid_ttl)).collect::<BTreeMap<String, i32>>()
    };
    let found = eventually(WAIT, || async { (got().await == want).then_some(()) }).await;
    assert!(found.is_some(), "entries {:?}, want {want:?}\nlog:\n{}", got().await, operator.log_text());
}

fn identity(world: &World, template: &str, ttl: Option<&str>) -> Value {
    let mut spec = json!({
        "className": world.class,
        "spiffeIDTemplate": template,
        "namespaceSelector": world.namespace_selector(),
    });
    if let Some(ttl) = ttl {
        spec["ttl"] = json!(ttl);
    }
    spec
}

/// A policy that governs only this test's namespace.
fn policy(world: &World, rest: Value) -> Value {
    let mut spec = json!({ "className": world.class, "match": { "namespaceSelector": world.namespace_selector() } });
    spec.as_object_mut().unwrap().extend(rest.as_object().unwrap().clone());
    spec
}

#[tokio::test]
async fn a_policy_denies_clamps_and_reports_and_an_audit_or_invalid_policy_removes_nothing() {
    let bed = testbed();
    let mut world = World::new(bed).await;
    world.node("node").await;
    let (good, legacy, pol) = (world.identity_name("good"), world.identity_name("legacy"), world.identity_name("pol"));
    world
        .apply(
            "ClusterSPIFFEID",
            &good,
            identity(
                &world,
                "spiffe://{{ .TrustDomain }}/ns/{{ .PodMeta.Namespace }}/sa/{{ .PodSpec.ServiceAccountName }}",
                Some("48h"),
            ),
        )
        .await;
    world
        .apply(
            "ClusterSPIFFEID",
            &legacy,
            identity(&world, "spiffe://{{ .TrustDomain }}/legacy/{{ .PodMeta.Name }}", None),
        )
        .await;
    world.pod("p-1", &[], Some("node")).await;
    let ns = world.namespace.clone();
    let sa_path = format!("/ns/{ns}/sa/app");
    let operator = Operator::start(bed, &world, &bed.spire_socket(), "");
    wait_entries(&world, &operator, &[(&sa_path, 48 * 3600), ("/legacy/p-1", 0)]).await;

    // A new policy: the legacy name is outside its allow list, and 48h is above its maximum.
    world
        .apply(
            "IdentityPolicy",
            &pol,
            policy(
                &world,
                json!({
                    "spiffeIDs": { "allow": ["/ns/{namespace}/sa/{serviceAccount}"] },
                    "ttl": { "x509": { "max": "1h" } },
                }),
            ),
        )
        .await;
    wait_entries(&world, &operator, &[(&sa_path, 3600)]).await;
    let message = world.wait_ready(&operator, "ClusterSPIFFEID", &legacy, ("False", "PolicyDenied")).await;
    for part in [pol.as_str(), "SpiffeIDNotAllowed", "/legacy/p-1"] {
        assert!(message.contains(part), "the message names {part}: {message}");
    }
    assert_eq!(world.condition("ClusterSPIFFEID", &legacy, "Stalled").await.map(|c| c.1), Some("PolicyDenied".into()));
    let status = world.status("ClusterSPIFFEID", &legacy).await;
    assert_eq!(status["stats"]["entriesDenied"], 1, "{status}");
    world.wait_event(&operator, &legacy, ("Warning", "PolicyDenied")).await;

    world.wait_ready(&operator, "ClusterSPIFFEID", &good, ("True", "Synced")).await;
    let ttl = world.status("ClusterSPIFFEID", &good).await["ttl"]["x509"].clone();
    assert_eq!(
        ttl,
        json!({ "requested": "48h0m0s", "effective": "1h0m0s", "boundBy": format!("IdentityPolicy/{pol} max") })
    );
    world.wait_event(&operator, &good, ("Normal", "TTLClamped")).await;

    let message = world.wait_ready(&operator, "IdentityPolicy", &pol, ("True", "Governing")).await;
    assert!(message.contains("governs 2 entries of 2 identities"), "{message}");
    let status = world.status("IdentityPolicy", &pol).await;
    assert_eq!(
        (
            &status["entriesGoverned"],
            &status["entriesDenied"],
            &status["entriesClamped"],
            &status["identitiesGoverned"]
        ),
        (&json!(2), &json!(1), &json!(1), &json!(2)),
        "{status}"
    );
    let generation = dynamic_generation(&world, "IdentityPolicy", &pol).await;
    assert_eq!(status["observedGeneration"], generation);

    // Audit: the violation is reported, the entries are written as declared.
    world
        .apply(
            "IdentityPolicy",
            &pol,
            policy(
                &world,
                json!({
                    "spiffeIDs": { "allow": ["/ns/{namespace}/sa/{serviceAccount}"] },
                    "ttl": { "x509": { "max": "1h" } },
                    "enforcement": "Audit",
                }),
            ),
        )
        .await;
    wait_entries(&world, &operator, &[(&sa_path, 48 * 3600), ("/legacy/p-1", 0)]).await;
    let message = world.wait_ready(&operator, "ClusterSPIFFEID", &legacy, ("True", "Synced")).await;
    assert!(message.contains("break Audit policies"), "{message}");
    let status = world.status("ClusterSPIFFEID", &legacy).await;
    assert_eq!(status["stats"]["policyViolations"], 1, "{status}");

    // Enforce again, then invalid: an invalid policy denies nothing and is Stalled itself.
    world
        .apply(
            "IdentityPolicy",
            &pol,
            policy(&world, json!({ "spiffeIDs": { "allow": ["/ns/{namespace}/sa/{serviceAccount}"] } })),
        )
        .await;
    wait_entries(&world, &operator, &[(&sa_path, 48 * 3600)]).await;
    let mut invalid = policy(&world, json!({ "spiffeIDs": { "allow": ["/ns/{namespace}/sa/{serviceAccount}"] } }));
    invalid["match"]["selector"] = json!({ "matchExpressions": [{ "key": "tier", "operator": "Sometimes" }] });
    world.apply("IdentityPolicy", &pol, invalid).await;
    let message = world.wait_ready(&operator, "IdentityPolicy", &pol, ("False", "InvalidSpec")).await;
    assert!(message.contains("spec.match.selector") && message.contains("Sometimes"), "{message}");
    assert_eq!(world.condition("IdentityPolicy", &pol, "Stalled").await.map(|c| c.0), Some("True".into()));
    wait_entries(&world, &operator, &[(&sa_path, 48 * 3600), ("/legacy/p-1", 0)]).await;
    world.wait_ready(&operator, "ClusterSPIFFEID", &legacy, ("True", "Synced")).await;

    world.delete("IdentityPolicy", &pol).await;
    world.clean_up().await;
}

async fn dynamic_generation(world: &World, kind: &str, name: &str) -> Value {
    let object = support::operator::dynamic(&world.client, kind).get(name).await.unwrap();
    json!(object.metadata.generation)
}

#[tokio::test]
async fn a_static_entry_lapses_at_its_instant_and_carries_it_to_spire() {
    let bed = testbed();
    let world = World::new(bed).await;
    let cse = world.identity_name("vm");
    let expires = k8s_openapi::jiff::Timestamp::now()
        .checked_add(k8s_openapi::jiff::SignedDuration::from_secs(12))
        .unwrap()
        .round(k8s_openapi::jiff::Unit::Second)
        .unwrap();
    world
        .apply(
            "ClusterStaticEntry",
            &cse,
            json!({
                "className": world.class,
                "spiffeID": format!("spiffe://example.org/vm/{}", world.id),
                "parentID": "spiffe://example.org/spire/agent/x509pop/vm-1",
                "selectors": ["unix:uid:1001"],
                "expiresAt": expires.to_string(),
            }),
        )
        .await;
    let operator = Operator::start(bed, &world, &bed.spire_socket(), "");
    let path = format!("/vm/{}", world.id);
    wait_entries(&world, &operator, &[(&path, 0)]).await;
    let stored = by_path(&world).await.remove(&path).unwrap();
    assert_eq!(stored.expires_at, expires.as_second(), "SPIRE prunes the entry by itself too");
    world.wait_ready(&operator, "ClusterStaticEntry", &cse, ("True", "Synced")).await;

    // Removed at the instant: poll closely and measure.
    let gone = eventually(Duration::from_secs(30), || async {
        (!by_path(&world).await.contains_key(&path)).then(k8s_openapi::jiff::Timestamp::now)
    })
    .await
    .expect("the entry was never removed");
    let late = gone.duration_since(expires);
    println!("static entry removed {late:?} after its expiresAt");
    assert!(late.as_millis() < 1500, "removed {late:?} after the instant");
    let message = world.wait_ready(&operator, "ClusterStaticEntry", &cse, ("False", "Expired")).await;
    assert!(message.contains(&expires.to_string()), "{message}");
    assert_eq!(world.condition("ClusterStaticEntry", &cse, "Expired").await.map(|c| c.0), Some("True".into()));
    world.delete("ClusterStaticEntry", &cse).await;
    world.clean_up().await;
}
