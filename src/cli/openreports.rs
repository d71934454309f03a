//! The report as OpenReports (`openreports.io/v1alpha1`): a `ClusterReport` for identities of
//! cluster-scoped resources that select no pod (ClusterStaticEntries), and one `Report` per
//! namespace for the pod entries of that namespace. Each identity gets one result per rule of
//! each policy that governs it:
//! - `fail`: an Enforce policy denies the entry for the rule;
//! - `warn`: an Audit policy reports a violation, a TTL bound sets the lifetime, or the exception
//!   the entry relies on lapses within the warning window;
//! - `skip`: no policy governs the identity;
//! - `pass`: otherwise.
//!
//! `rule` is the policy's group of rules (`spiffeIDs`, `ttl`, `privileges`, `requireOwner`) or
//! `exception`; `properties` carry the SPIFFE ID, entry ID, TTLs and drift.

use std::collections::BTreeMap;

use k8s_openapi::jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

use super::{
    report::{Report, Row},
    snapshot::Evaluation,
};
use crate::{
    config::Config,
    policy::{Policy, TENANT_CONFINEMENT, tenant_confinement},
};

pub const API_VERSION: &str = "openreports.io/v1alpha1";
/// The `source` of every report and result.
pub const SOURCE: &str = "spire-steward";

/// The name of the reports of this instance: `spire-steward`, or `spire-steward-<className>`.
pub fn report_name(config: &Config) -> String {
    match &config.class_name {
        None => SOURCE.to_owned(),
        Some(class) => {
            let class: String =
                class.to_lowercase().chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect();
            let name = format!("{SOURCE}-{}", class.trim_matches('-'));
            name.chars().take(253).collect::<String>().trim_end_matches('-').to_owned()
        }
    }
}

/// The groups of rules a policy defines.
fn rule_groups(policy: &Policy) -> Vec<&'static str> {
    let mut groups = Vec::new();
    if !policy.allow.is_empty() || !policy.deny.is_empty() {
        groups.push("spiffeIDs");
    }
    if policy.ttl.is_some() {
        groups.push("ttl");
    }
    groups.push("privileges");
    if policy.require_owner {
        groups.push("requireOwner");
    }
    groups
}

/// One result of the schema's `results`.
struct Outcome {
    policy: String,
    rule: String,
    result: &'static str,
    message: String,
}

fn outcomes(row: &Row, evaluation: &Evaluation, config: &Config) -> Vec<Outcome> {
    if row.policies.is_empty() {
        return vec![Outcome {
            policy: "none".into(),
            rule: "governance".into(),
            result: "skip",
            message: "no IdentityPolicy governs this identity".into(),
        }];
    }
    let policy_of = |name: &str| -> Option<&Policy> {
        if name == TENANT_CONFINEMENT {
            return Some(tenant_confinement());
        }
        evaluation.rules.governance.policies.iter().map(|g| &g.policy).find(|p| p.name == name)
    };
    let mut out = Vec::new();
    for name in &row.policies {
        let mut groups = policy_of(name).map(rule_groups).unwrap_or_default();
        for f in row.findings.iter().filter(|f| &f.policy == name) {
            if !groups.contains(&f.rule) {
                groups.push(f.rule);
            }
        }
        for group in groups {
            let found: Vec<_> = row.findings.iter().filter(|f| &f.policy == name && f.rule == group).collect();
            let (result, message) = if found.iter().any(|f| f.enforced) {
                ("fail", found.iter().filter(|f| f.enforced).map(|f| f.message.as_str()).collect::<Vec<_>>().join("; "))
            } else if !found.is_empty() {
                ("warn", found.iter().map(|f| f.message.as_str()).collect::<Vec<_>>().join("; "))
            } else {
                ("pass", format!("satisfies the {group} rules of IdentityPolicy {name}"))
            };
            out.push(Outcome { policy: name.clone(), rule: group.into(), result, message });
        }
    }
    if let Some(exception) = &row.exception {
        let expires_at = evaluation.rules.exception(&exception.name).map(|e| e.expires_at);
        let window = SignedDuration::try_from(config.exception_warning_window).unwrap_or(SignedDuration::MAX);
        let soon = expires_at.is_some_and(|at| at.duration_since(evaluation.now) <= window);
        let until = expires_at.map(|at| format!(" until {at}")).unwrap_or_default();
        out.push(Outcome {
            policy: row.policies[0].clone(),
            rule: "exception".into(),
            result: if soon { "warn" } else { "pass" },
            message: format!(
                "relaxed by IdentityException {}{until}{}",
                exception.name,
                if soon { ", inside the warning window" } else { "" }
            ),
        });
    }
    out
}

fn reference(row: &Row) -> Vec<Value> {
    let mut out = Vec::new();
    if let Some(pod) = &row.pod {
        out.push(
            json!({ "apiVersion": "v1", "kind": "Pod", "namespace": pod.namespace, "name": pod.name, "uid": pod.uid }),
        );
    }
    if let Some(source) = &row.source {
        let mut r = json!({ "apiVersion": crate::config::API_VERSION, "kind": source.kind, "name": source.name });
        if let Some(ns) = &source.namespace {
            r["namespace"] = json!(ns);
        }
        if let Some(uid) = &row.source_uid {
            r["uid"] = json!(uid);
        }
        out.push(r);
    }
    out
}

fn properties(row: &Row) -> BTreeMap<&'static str, String> {
    let mut p = BTreeMap::new();
    p.insert("spiffeID", row.entry.spiffe_id.clone());
    p.insert("parentID", row.entry.parent_id.clone());
    if let Some(id) = &row.entry.entry_id {
        p.insert("entryID", id.clone());
    }
    p.insert("x509TTL", row.x509_ttl.effective.clone().unwrap_or_default());
    p.insert("x509BoundBy", row.x509_ttl.bound_by.clone());
    p.insert("jwtTTL", row.jwt_ttl.effective.clone().unwrap_or_default());
    p.insert("jwtBoundBy", row.jwt_ttl.bound_by.clone());
    p.insert("decision", row.decision.clone());
    p.insert("drift", format!("{:?}", row.drift));
    if let Some(owner) = &row.owner {
        p.insert("ownerTeam", owner.team.clone());
        if let Some(contact) = &owner.contact {
            p.insert("ownerContact", contact.clone());
        }
    }
    if let Some(exception) = &row.exception {
        p.insert("exception", exception.name.clone());
    }
    p
}

fn timestamp(now: Timestamp) -> Value {
    json!({ "seconds": now.as_second(), "nanos": now.subsec_nanosecond().max(0) })
}

/// The report objects, cluster report first, then one per namespace in name order.
pub fn reports(report: &Report, evaluation: &Evaluation, config: &Config) -> Vec<Value> {
    let name = report_name(config);
    let mut cluster: Vec<Value> = Vec::new();
    let mut namespaced: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for row in report.rows.iter().filter(|r| r.source.is_some()) {
        let results = outcomes(row, evaluation, config).into_iter().map(|o| {
            json!({
                "source": SOURCE,
                "policy": o.policy,
                "rule": o.rule,
                "result": o.result,
                "message": o.message,
                "scored": true,
                "timestamp": timestamp(evaluation.now),
                "resources": reference(row),
                "properties": properties(row),
            })
        });
        let namespace =
            row.pod.as_ref().map(|p| p.namespace.clone()).or_else(|| row.source.as_ref()?.namespace.clone());
        match namespace {
            Some(ns) => namespaced.entry(ns).or_default().extend(results),
            None => cluster.extend(results),
        }
    }
    let summary = |results: &[Value]| {
        let count = |r: &str| results.iter().filter(|x| x["result"] == r).count();
        json!({ "pass": count("pass"), "fail": count("fail"), "warn": count("warn"), "error": count("error"), "skip": count("skip") })
    };
    let labels = json!({ "app.kubernetes.io/managed-by": SOURCE });
    let mut out = vec![json!({
        "apiVersion": API_VERSION,
        "kind": "ClusterReport",
        "metadata": { "name": name, "labels": labels },
        "source": SOURCE,
        "summary": summary(&cluster),
        "results": cluster,
    })];
    for (namespace, results) in namespaced {
        out.push(json!({
            "apiVersion": API_VERSION,
            "kind": "Report",
            "metadata": { "name": name, "namespace": namespace, "labels": labels },
            "source": SOURCE,
            "scope": { "apiVersion": "v1", "kind": "Namespace", "name": namespace },
            "summary": summary(&results),
            "results": results,
        }));
    }
    out
}

/// The reports as YAML documents.
pub fn yaml(objects: &[Value]) -> String {
    objects.iter().map(|o| serde_yaml_ng::to_string(o).unwrap_or_default()).collect::<Vec<_>>().join("---\n")
}
