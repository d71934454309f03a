//! Governance in the pass: denials, clamps, Audit and exceptions at their instant.

use super::*;
use crate::policy::{
    Exception, Governance, GoverningPolicy, Pattern, Policy, PolicyMatch, Relaxations, Target, TargetedException,
    TtlBounds,
};

fn policy(name: &str, allow: &[&str], x509_max: Option<u32>) -> GoverningPolicy {
    GoverningPolicy {
        policy_match: PolicyMatch::default(),
        policy: Policy {
            name: name.into(),
            allow: allow.iter().map(|p| Pattern::parse(p).unwrap()).collect(),
            ttl: x509_max.map(|m| TtlBounds { x509_max: Some(m), ..Default::default() }),
            ..Default::default()
        },
    }
}

fn exception(target: &str, expires: &str, relaxations: Relaxations) -> TargetedException {
    TargetedException {
        exception: Exception {
            name: "legacy".into(),
            target: Target { kind: "ClusterSPIFFEID".into(), name: target.into(), namespace: None },
            expires_at: expires.parse().unwrap(),
            created_at: "2026-11-01T00:00:00Z".parse().unwrap(),
            relaxations,
        },
        kind: SourceKind::ClusterSPIFFEID,
        pod_selector: None,
    }
}

fn x509_ttls(world: &World, uid: &str) -> Vec<i32> {
    world.index.scope(&Scope::Pod(uid.into())).iter().map(|e| e.x509_svid_ttl).collect()
}

#[test]
fn a_denied_entry_is_not_written_and_an_existing_one_is_removed_when_a_policy_tightens() {
    let mut world = World::new("");
    world.identity("web", "spiffe://example.org/ns/{{ .PodMeta.Namespace }}/legacy", "web", 1);
    world.add_pod("p1", &[("app", "web")]);
    let plan = world.pass("p1");
    world.write(&plan);
    assert_eq!(world.paths("p1"), ["/ns/shop/legacy"]);

    world.governance = Governance {
        policies: vec![policy("strict", &["/ns/{namespace}/sa/*"], None)],
        exceptions: vec![],
        incomplete: false,
    };
    let plan = world.pass("p1");
    assert_eq!(plan.deletes.len(), 1, "the entry a new policy denies is de-registered");
    world.write(&plan);
    assert!(world.paths("p1").is_empty());
    let (health, announced) = world.status("web", &[], None);
    assert!(
        matches!(&health, Health::PolicyDenied { message }
            if message.contains("strict") && message.contains("SpiffeIDNotAllowed") && message.contains("/ns/shop/legacy")),
        "{health:?}"
    );
    assert_eq!(kind(announced), event(true, "PolicyDenied"));
    let tally = tallies(world.records.values()).remove("web").unwrap();
    assert_eq!((tally.denied, tally.winners), (1, 0));
}

#[test]
fn an_audit_policy_reports_and_writes() {
    let mut world = World::new("");
    world.identity("web", "spiffe://example.org/legacy/{{ .PodMeta.Name }}", "web", 1);
    world.add_pod("p1", &[("app", "web")]);
    let mut audit = policy("audit", &["/ns/**"], None);
    audit.policy.enforcement = crate::policy::Enforcement::Audit;
    world.governance = Governance { policies: vec![audit], exceptions: vec![], incomplete: false };
    let plan = world.pass("p1");
    world.write(&plan);
    assert_eq!(world.paths("p1"), ["/legacy/pod-p1"]);
    let (health, _) = world.status("web", &[], None);
    assert!(matches!(&health, Health::Synced { message } if message.contains("break Audit policies")), "{health:?}");
}

#[test]
fn an_exception_raises_the_ttl_until_the_instant_and_not_at_it() {
    let mut world = World::new("");
    world.identity("web", "spiffe://example.org/web/{{ .PodMeta.Name }}", "web", 1);
    world.identities[0].identity = PodIdentity::parse(&ClusterSPIFFEIDSpec {
        spiffe_id_template: "spiffe://example.org/web/{{ .PodMeta.Name }}".into(),
        ttl: Some("48h".into()),
        pod_selector: Some(LabelSelector { match_labels: Some(labels(&[("app", "web")])), ..Default::default() }),
        ..Default::default()
    })
    .map(Arc::new)
    .map_err(crate::reconcile::SpecError::from);
    world.add_pod("p1", &[("app", "web")]);
    let expires = "2026-12-01T12:00:00Z";
    world.governance = Governance {
        policies: vec![policy("ttl", &[], Some(3600))],
        exceptions: vec![exception("web", expires, Relaxations { x509_ttl_max: Some(86400), ..Default::default() })],
        incomplete: false,
    };
    let instant: k8s_openapi::jiff::Timestamp = expires.parse().unwrap();
    let ms = k8s_openapi::jiff::SignedDuration::from_millis(1);
    for (now, want) in [(instant - ms, 86400), (instant, 3600), (instant + ms, 3600), (instant - ms, 86400)] {
        world.now = now;
        let plan = world.pass("p1");
        world.write(&plan);
        assert_eq!(x509_ttls(&world, "p1"), [want], "at {now}");
    }
    let tally = tallies(world.records.values()).remove("web").unwrap();
    let ttl = tally.ttl.unwrap().x509.unwrap();
    assert_eq!(ttl.requested.as_deref(), Some("48h0m0s"));
    assert_eq!(ttl.effective.as_deref(), Some("24h0m0s"));
    assert_eq!(ttl.bound_by.as_deref(), Some("IdentityException/legacy ttl max"));
}

#[test]
fn a_clamped_ttl_is_written_and_reported() {
    let mut world = World::new("");
    world.identity("web", "spiffe://example.org/web/{{ .PodMeta.Name }}", "web", 1);
    world.add_pod("p1", &[("app", "web")]);
    world.governance =
        Governance { policies: vec![policy("ttl", &[], Some(1800))], exceptions: vec![], incomplete: false };
    let plan = world.pass("p1");
    world.write(&plan);
    assert_eq!(x509_ttls(&world, "p1"), [1800], "an unset TTL gets the policy's maximum");
    let (health, _) = world.status("web", &[], None);
    assert!(matches!(&health, Health::Synced { message } if message.contains("1 TTLs set by policy")), "{health:?}");
    assert!(world.pass("p1").is_empty(), "the clamped entry is in sync: nothing to write again");
}
