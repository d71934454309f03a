//! The chart's alerts (PrometheusRule) and Grafana dashboard use only what the operator exports:
//! every metric selector of every alert and panel expression is matched against a live
//! `/metrics` of an operator on the testbed, label by label.

mod support;

use std::collections::{BTreeMap, BTreeSet};

use regex::Regex;
use serde_json::Value;
use support::{
    helm,
    operator::{Operator, World, free_port, http_get},
    testbed,
};

/// The chart rendered with its alerts and dashboard.
fn rendered() -> Vec<Value> {
    let out = helm(&[
        "template",
        "x",
        "charts/spire-steward",
        "--set",
        "metrics.prometheusRule.enabled=true",
        "--set",
        "metrics.dashboard.enabled=true",
    ])
    .output()
    .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_yaml_ng::Deserializer::from_str(&String::from_utf8_lossy(&out.stdout))
        .map(|d| <Value as serde::Deserialize>::deserialize(d).unwrap())
        .filter(|v| !v.is_null())
        .collect()
}

/// Per sample name, its label names and the values each takes.
type Exposition = BTreeMap<String, BTreeMap<String, BTreeSet<String>>>;

fn exposition(text: &str) -> Exposition {
    let sample = Regex::new(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? ").unwrap();
    let label = Regex::new(r#"([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)""#).unwrap();
    let mut out = Exposition::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some(c) = sample.captures(line) else { continue };
        let labels = out.entry(c[1].to_owned()).or_default();
        for l in label.captures_iter(c.get(3).map_or("", |m| m.as_str())) {
            labels.entry(l[1].to_owned()).or_default().insert(l[2].to_owned());
        }
    }
    out
}

/// What is wrong with `expr`'s selectors against the exposition (empty: nothing).
fn unmatched(expr: &str, exposed: &Exposition) -> Vec<String> {
    let selector = Regex::new(r"(spire_steward_[a-zA-Z0-9_]+)(\{([^}]*)\})?").unwrap();
    let matcher = Regex::new(r#"([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"([^"]*)""#).unwrap();
    let mut problems = Vec::new();
    for c in selector.captures_iter(expr) {
        let name = &c[1];
        let Some(labels) = exposed.get(name) else {
            problems.push(format!("{name} is not exported"));
            continue;
        };
        for m in matcher.captures_iter(c.get(3).map_or("", |m| m.as_str())) {
            let (label, op, value) = (&m[1], &m[2], &m[3]);
            match labels.get(label) {
                None => problems.push(format!("{name} has no label {label}")),
                Some(values) if op == "=" && !values.contains(value) => {
                    problems.push(format!("{name}{{{label}=\"{value}\"}} matches nothing (values: {values:?})"))
                }
                _ => {}
            }
        }
    }
    problems
}

#[tokio::test]
async fn every_alert_and_panel_selects_exported_metrics() {
    let objects = rendered();
    let rule = objects.iter().find(|o| o["kind"] == "PrometheusRule").expect("a PrometheusRule");
    let rules = rule["spec"]["groups"][0]["rules"].as_array().unwrap();
    let alerts: Vec<&str> = rules.iter().map(|r| r["alert"].as_str().unwrap()).collect();
    for wanted in [
        "SpireStewardSpireUnreachable",
        "SpireStewardResourceNotReady",
        "SpireStewardPeriodicCheckMissing",
        "SpireStewardDriftDetected",
        "SpireStewardExceptionExpiringSoon",
        "SpireStewardWriteFailures",
    ] {
        assert!(alerts.contains(&wanted), "{wanted} missing from {alerts:?}");
    }
    for r in rules {
        assert!(r["labels"]["severity"].is_string(), "{r}");
        assert!(r["annotations"]["summary"].is_string() && r["annotations"]["description"].is_string(), "{r}");
    }
    let dashboard =
        objects.iter().find(|o| o["kind"] == "ConfigMap" && o["metadata"]["name"] == "x-spire-steward-dashboard");
    let dashboard = dashboard.expect("the dashboard ConfigMap");
    assert_eq!(dashboard["metadata"]["labels"]["grafana_dashboard"], "1");
    let json: Value = serde_json::from_str(dashboard["data"]["spire-steward.json"].as_str().unwrap()).unwrap();
    assert_eq!(json["uid"], "spire-steward");
    let panels = json["panels"].as_array().unwrap();
    assert!(panels.len() >= 10);
    let mut exprs: Vec<(String, String)> = rules
        .iter()
        .map(|r| (r["alert"].as_str().unwrap().to_owned(), r["expr"].as_str().unwrap().to_owned()))
        .collect();
    for panel in panels {
        let targets = panel["targets"].as_array().unwrap_or_else(|| panel_without_targets(panel));
        assert!(!targets.is_empty(), "{panel}");
        for t in targets {
            exprs.push((panel["title"].as_str().unwrap().to_owned(), t["expr"].as_str().unwrap().to_owned()));
        }
    }

    let bed = testbed();
    let world = World::with_one_pod(bed, "web").await;
    let name = world.identity_name("web");
    let port = free_port();
    let operator =
        Operator::start(bed, &world, &bed.spire_socket(), &format!("metrics: {{bindAddress: '127.0.0.1:{port}'}}\n"));
    world.wait_ready(&operator, "ClusterSPIFFEID", &name, ("True", "Synced")).await;
    let (_, body) = http_get(port, "/metrics").await.unwrap();
    let exposed = exposition(&body);
    let problems: Vec<String> = exprs
        .iter()
        .flat_map(|(what, expr)| unmatched(expr, &exposed).into_iter().map(move |p| format!("{what}: {p}")))
        .collect();
    assert!(problems.is_empty(), "{problems:#?}");
    // Every alert and panel names at least one metric.
    for (what, expr) in &exprs {
        assert!(expr.contains("spire_steward_"), "{what}: {expr}");
    }
    drop(operator);
    world.clean_up().await;
}

fn panel_without_targets(panel: &Value) -> &Vec<Value> {
    panic!("panel without targets: {panel}")
}

#[test]
fn a_selector_the_operator_does_not_export_is_caught() {
    let exposed =
        exposition("spire_steward_reconcile_errors_total{category=\"spire_unavailable\"} 0\nspire_steward_leader 1\n");
    assert!(
        unmatched(r#"increase(spire_steward_reconcile_errors_total{category="spire_unavailable"}[5m])"#, &exposed)
            .is_empty()
    );
    assert_eq!(unmatched("spire_steward_leaders", &exposed), ["spire_steward_leaders is not exported"]);
    assert_eq!(unmatched(r#"spire_steward_leader{pod="a"}"#, &exposed), ["spire_steward_leader has no label pod"]);
    let wrong = unmatched(r#"spire_steward_reconcile_errors_total{category="oops"}"#, &exposed);
    assert!(wrong[0].contains("matches nothing"), "{wrong:?}");
}
