//! Governance proven on a real SVID: the lifetime a real spire-agent hands a workload follows the
//! policy's clamp, an exception's longer maximum while it is in force and the policy again once it
//! lapses, and a denied identity stops being served.

mod support;

use std::time::Duration;

use k8s_openapi::jiff::{SignedDuration, Timestamp, Unit};
use serde_json::json;
use support::{
    agent::Agent,
    eventually,
    operator::{Operator, World},
    testbed,
};

/// Entry changes reach the agent through the server's entry cache, rebuilt every 5 s.
const PROPAGATION: Duration = Duration::from_secs(45);

#[tokio::test]
async fn the_svid_lifetime_follows_clamp_exception_and_lapse_and_a_denial_stops_it() {
    let bed = testbed();
    let world = World::new(bed).await;
    let agent = Agent::get();
    let workload = agent.workload("governed");
    let (cse, pol, exc) = (world.identity_name("vm"), world.identity_name("pol"), world.identity_name("exc"));
    let spiffe_id = format!("spiffe://{}/svid/{}", bed.trust_domain(), world.id);
    world
        .apply(
            "ClusterStaticEntry",
            &cse,
            json!({
                "className": world.class,
                "spiffeID": spiffe_id,
                "parentID": agent.id().to_string(),
                "selectors": [workload.selector().to_string()],
                "x509SVIDTTL": "2h",
            }),
        )
        .await;
    let policy = |extra: serde_json::Value| {
        let mut spec = json!({
            "className": world.class,
            "match": { "kinds": ["ClusterStaticEntry"] },
            "ttl": { "x509": { "max": "10m" } },
        });
        spec.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        spec
    };
    world.apply("IdentityPolicy", &pol, policy(json!({}))).await;
    let expires = Timestamp::now().checked_add(SignedDuration::from_secs(40)).unwrap().round(Unit::Second).unwrap();
    world
        .apply(
            "IdentityException",
            &exc,
            json!({
                "className": world.class,
                "target": { "kind": "ClusterStaticEntry", "name": cse },
                "relaxations": { "x509TtlMax": "30m" },
                "expiresAt": expires.to_string(),
                "owner": "team-vm",
                "justification": "the VM's renewal job runs every 20 minutes until it is rebuilt",
            }),
        )
        .await;
    let operator = Operator::start(bed, &world, &bed.spire_socket(), "");

    // In force: the exception's maximum, not the declared 2h nor the policy's 10m.
    let ttl_is =
        |secs: u64| move |svid: Option<&support::agent::X509Svid>| svid.is_some_and(|s| s.ttl().as_secs() == secs);
    let svid = workload.wait_for_x509("SVID with the exception's TTL", PROPAGATION, ttl_is(1800)).await;
    let svid = svid.unwrap_or_else(|e| panic!("{e}\nlog:\n{}", operator.log_text())).unwrap();
    assert_eq!(svid.spiffe_id, spiffe_id);
    assert!(Timestamp::now() < expires, "the exception's SVID was served before the lapse");
    let status = world.status("ClusterStaticEntry", &cse).await;
    assert_eq!(status["ttl"]["x509"]["boundBy"], format!("IdentityException/{exc} ttl max"), "{status}");

    // Lapsed: the next SVID has the policy's clamp.
    let svid = workload
        .wait_for_x509("SVID with the policy's TTL after the lapse", PROPAGATION + Duration::from_secs(40), ttl_is(600))
        .await;
    svid.unwrap_or_else(|e| panic!("{e}\nlog:\n{}", operator.log_text()));
    assert!(Timestamp::now() >= expires);
    let status = world.status("ClusterStaticEntry", &cse).await;
    assert_eq!(
        status["ttl"]["x509"],
        json!({ "requested": "2h0m0s", "effective": "10m0s", "boundBy": format!("IdentityPolicy/{pol} max") }),
        "{status}"
    );
    let expired = eventually(Duration::from_secs(10), || async {
        let ready = world.condition("IdentityException", &exc, "Ready").await?;
        (ready.1 == "Expired").then_some(())
    })
    .await;
    assert!(expired.is_some(), "the exception is not Expired: {}", world.status("IdentityException", &exc).await);

    // Denied: the workload is no longer served.
    world.apply("IdentityPolicy", &pol, policy(json!({ "spiffeIDs": { "deny": ["/svid/**"] } }))).await;
    let none = workload.wait_for_x509("no SVID once denied", PROPAGATION, |svid| svid.is_none()).await;
    none.unwrap_or_else(|e| panic!("{e}\nlog:\n{}", operator.log_text()));
    let ready = world.condition("ClusterStaticEntry", &cse, "Ready").await.unwrap();
    assert_eq!(ready.1, "PolicyDenied", "{ready:?}");

    for (kind, name) in [("IdentityException", &exc), ("IdentityPolicy", &pol), ("ClusterStaticEntry", &cse)] {
        world.delete(kind, name).await;
    }
    world.clean_up().await;
}
