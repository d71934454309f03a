//! Audit records on the real servers: each action the operator takes or refuses is one JSON line
//! in the audit file, checked field by field against what SPIRE and the API server hold.

mod support;

use std::{collections::BTreeMap, time::Duration};

use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::DeleteParams;
use serde_json::{Value, json};
use support::{
    audit::{AuditLog, is},
    eventually,
    operator::{Operator, World, dynamic, entries},
    testbed,
};

const WAIT: Duration = Duration::from_secs(40);

async fn uid_of(world: &World, kind: &str, name: &str) -> String {
    dynamic(&world.client, kind).get(name).await.unwrap().metadata.uid.unwrap()
}

#[tokio::test]
async fn every_write_denial_clamp_failure_and_exception_transition_is_one_record() {
    let bed = testbed();
    let mut world = World::new(bed).await;
    world.node("node").await;
    let ns = world.namespace.clone();
    let (web, legacy, refused, pol, deny, exc) = (
        world.identity_name("web"),
        world.identity_name("legacy"),
        world.identity_name("refused"),
        world.identity_name("pol"),
        world.identity_name("deny"),
        world.identity_name("exc"),
    );
    let partner = format!("partner-{}.example", world.id);
    let identity = |template: String, rest: Value| {
        let mut spec = json!({
            "className": world.class,
            "spiffeIDTemplate": template,
            "namespaceSelector": world.namespace_selector(),
        });
        spec.as_object_mut().unwrap().extend(rest.as_object().unwrap().clone());
        spec
    };
    let policy = |rest: Value| {
        let mut spec =
            json!({ "className": world.class, "match": { "namespaceSelector": world.namespace_selector() } });
        spec.as_object_mut().unwrap().extend(rest.as_object().unwrap().clone());
        spec
    };
    world
        .apply(
            "ClusterSPIFFEID",
            &web,
            identity(
                "spiffe://{{ .TrustDomain }}/ns/{{ .PodMeta.Namespace }}/sa/{{ .PodSpec.ServiceAccountName }}".into(),
                json!({ "ttl": "48h", "owner": { "team": "payments", "contact": "#payments-oncall" } }),
            ),
        )
        .await;
    world
        .apply(
            "ClusterSPIFFEID",
            &legacy,
            identity("spiffe://{{ .TrustDomain }}/legacy/{{ .PodMeta.Name }}".into(), json!({})),
        )
        .await;
    world
        .apply(
            "ClusterSPIFFEID",
            &refused,
            identity(
                "spiffe://{{ .TrustDomain }}/ns/{{ .PodMeta.Namespace }}/refused/{{ .PodMeta.Name }}".into(),
                json!({ "federatesWith": [partner] }),
            ),
        )
        .await;
    // Allows /ns/** and /legacy/** (for now), federation with the partner, and at most 1h.
    world
        .apply(
            "IdentityPolicy",
            &pol,
            policy(json!({
                "spiffeIDs": { "allow": ["/ns/**", "/legacy/**"] },
                "ttl": { "x509": { "max": "1h" } },
                "privileges": { "federatesWith": [partner] },
            })),
        )
        .await;
    world.pod("p-1", &[], Some("node")).await;

    let audit = AuditLog::new(&world);
    let operator =
        Operator::start(bed, &world, &bed.spire_socket(), &format!("{}exceptionWarningWindow: 6s\n", audit.config()));
    let spire = bed.spire();
    let sa = format!("/ns/{ns}/sa/app");
    let found = eventually(WAIT, || async {
        let stored = entries(&spire, &world.prefix).await;
        (stored.len() == 2).then_some(stored)
    })
    .await
    .unwrap_or_else(|| panic!("entries never written\nlog:\n{}", operator.log_text()));
    let by_path: BTreeMap<String, _> = found.into_iter().map(|e| (e.spiffe_id.path().to_owned(), e)).collect();
    let stored = &by_path[&sa];

    // A create: the entry as SPIRE holds it, the resource that declared it, its owner, the
    // policy that set its TTL.
    let create = audit.wait(&operator, "create of the clamped entry", |r| is(r, "create", &sa)).await;
    let web_uid = uid_of(&world, "ClusterSPIFFEID", &web).await;
    assert_eq!(create["schemaVersion"], "spire-steward.io/audit/v1");
    assert!(create["time"].as_str().unwrap().parse::<Timestamp>().is_ok(), "{create}");
    assert_eq!(create["outcome"], "success");
    assert_eq!(create["reason"], "pod-created");
    assert_eq!(create["entryID"], stored.id.as_ref().unwrap().as_str());
    assert_eq!(create["spiffeID"], stored.spiffe_id.to_string());
    assert_eq!(create["parentID"], stored.parent_id.to_string());
    assert_eq!(
        create["resource"],
        json!({ "kind": "ClusterSPIFFEID", "name": web, "uid": web_uid, "generation": 1 }),
        "{create}"
    );
    assert_eq!(create["owner"], json!({ "team": "payments", "contact": "#payments-oncall" }));
    assert_eq!(create["policy"], pol.as_str());

    // The clamp itself, once.
    let clamp = audit.wait(&operator, "clamp", |r| is(r, "clamp", &sa)).await;
    assert_eq!(
        (&clamp["outcome"], &clamp["reason"], &clamp["policy"]),
        (&json!("success"), &json!("ttl-clamped"), &json!(pol))
    );
    assert!(clamp["message"].as_str().unwrap().contains("172800s set to 3600s"), "{clamp}");

    // A write SPIRE refuses: its code and message.
    let failed = audit.wait(&operator, "refused create", |r| is(r, "create", "/refused/p-1")).await;
    assert_eq!(failed["outcome"], "failed", "{failed}");
    let code = failed["error"]["code"].as_str().unwrap();
    assert!(!code.is_empty() && code != "Ok", "{failed}");
    assert!(failed["error"]["message"].as_str().unwrap().to_lowercase().contains("federat"), "{failed}");

    // An exception that lets the legacy name stay for a few seconds once a policy denies it.
    let expires = Timestamp::now()
        .checked_add(SignedDuration::from_secs(14))
        .unwrap()
        .round(k8s_openapi::jiff::Unit::Second)
        .unwrap();
    world
        .apply(
            "IdentityException",
            &exc,
            json!({
                "className": world.class,
                "target": { "kind": "ClusterSPIFFEID", "name": legacy },
                "relaxations": { "extraAllow": ["/legacy/**"] },
                "expiresAt": expires.to_string(),
                "owner": "team-billing",
                "justification": "old names until the migration",
                "ticket": "BILL-1",
            }),
        )
        .await;
    let activated = audit.wait(&operator, "exception activated", |r| r["action"] == "exception-activated").await;
    let exc_uid = uid_of(&world, "IdentityException", &exc).await;
    assert_eq!(
        activated["resource"],
        json!({ "kind": "IdentityException", "name": exc, "uid": exc_uid, "generation": 1 })
    );
    assert_eq!((&activated["owner"]["team"], &activated["exception"]), (&json!("team-billing"), &json!(exc)));
    assert!(activated["message"].as_str().unwrap().contains("BILL-1"), "{activated}");

    // The policy stops allowing /legacy/**: the exception now carries the entry.
    world
        .apply(
            "IdentityPolicy",
            &pol,
            policy(json!({
                "spiffeIDs": { "allow": ["/ns/**"] },
                "ttl": { "x509": { "max": "1h" } },
                "privileges": { "federatesWith": [partner] },
            })),
        )
        .await;
    let warning = audit.wait(&operator, "exception warning", |r| r["action"] == "exception-warning").await;
    assert_eq!(warning["exception"], exc.as_str());
    let lapsed = audit.wait(&operator, "exception lapsed", |r| r["action"] == "exception-lapsed").await;
    assert_eq!(lapsed["reason"], "exception-lapsed");
    let gone = audit.wait(&operator, "delete at the lapse", |r| is(r, "delete", "/legacy/p-1")).await;
    assert_eq!((&gone["outcome"], &gone["reason"]), (&json!("success"), &json!("exception-lapsed")), "{gone}");
    assert_eq!((&gone["policy"], &gone["exception"]), (&json!(pol), &json!(exc)), "{gone}");
    assert_eq!(gone["resource"]["name"], legacy.as_str());
    let denied = audit.wait(&operator, "denial", |r| is(r, "deny", "/legacy/p-1")).await;
    assert_eq!((&denied["outcome"], &denied["policy"]), (&json!("denied"), &json!(pol)));
    assert!(denied["message"].as_str().unwrap().contains("SpiffeIDNotAllowed"), "{denied}");

    // A policy that denies outright: the record names it.
    world.apply("IdentityPolicy", &deny, policy(json!({ "spiffeIDs": { "deny": ["/ns/*/refused/**"] } }))).await;
    let denied = audit
        .wait(&operator, "denial of the refused entry", |r| {
            is(r, "deny", "/refused/p-1") && r["policy"] == deny.as_str()
        })
        .await;
    assert_eq!(denied["reason"], "policy-denied");

    // The pod goes: its entry is deleted for that reason.
    let now_gone = DeleteParams { grace_period_seconds: Some(0), ..Default::default() };
    world.pods().delete("p-1", &now_gone).await.unwrap();
    let deleted = audit.wait(&operator, "delete of the pod's entry", |r| is(r, "delete", &sa)).await;
    assert_eq!((&deleted["outcome"], &deleted["reason"]), (&json!("success"), &json!("pod-deleted")), "{deleted}");
    assert_eq!(deleted["entryID"], stored.id.as_ref().unwrap().as_str());
    assert_eq!(deleted["owner"]["team"], "payments");

    // Every action of the run was recorded once: one create per entry, one clamp.
    let all = audit.records();
    assert_eq!(all.iter().filter(|r| is(r, "create", &sa)).count(), 1, "{all:#?}");
    assert_eq!(all.iter().filter(|r| is(r, "clamp", &sa)).count(), 1, "{all:#?}");
    assert_eq!(all.iter().filter(|r| r["action"] == "exception-activated").count(), 1, "{all:#?}");
    assert!(all.iter().all(|r| r["schemaVersion"] == "spire-steward.io/audit/v1"));

    for (kind, name) in [("IdentityPolicy", &pol), ("IdentityPolicy", &deny), ("IdentityException", &exc)] {
        world.delete(kind, name).await;
    }
    world.clean_up().await;
}
