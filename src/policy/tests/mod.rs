//! Table tests of the decision: patterns, the rules one by one and together, exceptions.

mod exceptions;
mod pattern;
mod rules;

use std::time::Duration;

use k8s_openapi::jiff::{SignedDuration, Timestamp};

use super::*;

fn pat(s: &str) -> Pattern {
    Pattern::parse(s).unwrap()
}

fn pod_bindings() -> Bindings<'static> {
    Bindings { namespace: Some("team-a"), service_account: Some("web"), pod_name: Some("web-0"), node_name: Some("n1") }
}

fn request(path: &str) -> Request<'static> {
    Request {
        spiffe_id: path.to_owned(),
        parent_id: "/spire/agent/k8s_psat/c/n1".to_owned(),
        kind: SourceKind::ClusterSPIFFEID,
        bindings: pod_bindings(),
        x509_ttl: None,
        jwt_ttl: None,
        admin: false,
        downstream: false,
        federates_with: Vec::new(),
        selector_types: vec!["k8s".to_owned()],
        owner_set: true,
    }
}

fn policy(name: &str) -> Policy {
    Policy { name: name.to_owned(), ..Policy::default() }
}

fn ttl_policy(name: &str, min: Option<u32>, max: Option<u32>, default: Option<u32>, action: TtlAction) -> Policy {
    Policy {
        ttl: Some(TtlBounds { x509_min: min, x509_max: max, x509_default: default, action, ..TtlBounds::default() }),
        ..policy(name)
    }
}

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

const NOW: &str = "2026-12-01T12:00:00Z";

fn exception(name: &str, relaxations: Relaxations) -> Exception {
    Exception {
        name: name.to_owned(),
        target: Target { kind: "ClusterSPIFFEID".to_owned(), name: "web".to_owned(), namespace: None },
        created_at: ts("2026-11-30T12:00:00Z"),
        expires_at: ts("2026-12-02T12:00:00Z"),
        relaxations,
    }
}

fn rules(decision: &Decision) -> Vec<(String, Rule, bool)> {
    decision.denials.iter().map(|d| (d.policy.clone(), d.rule.clone(), d.enforced)).collect()
}
