//! `/metrics` read by the official Prometheus Python client's parsers, in both formats the
//! endpoint negotiates: OpenMetrics for a scraper that asks for it (Prometheus does), the
//! Prometheus text format otherwise. Every family is typed and has help text, counters exist at
//! zero from start-up, and the operations metrics describe the world the operator runs.

mod support;

use std::{collections::BTreeMap, process::Command, sync::OnceLock, time::Duration};

use serde_json::{Value, json};
use support::{
    eventually,
    operator::{Operator, World, free_port},
    repo_root, testbed,
};

/// The Python interpreter with the Prometheus client, installed once per test binary.
fn python() -> &'static str {
    static PYTHON: OnceLock<String> = OnceLock::new();
    PYTHON.get_or_init(|| {
        let out = Command::new(repo_root().join("hack/tools/install-prometheus-client.sh"))
            .stderr(std::process::Stdio::inherit())
            .output()
            .expect("running hack/tools/install-prometheus-client.sh");
        assert!(out.status.success(), "install-prometheus-client.sh failed");
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    })
}

/// GET /metrics with `accept`: the content type and the body.
async fn scrape(port: u16, accept: Option<&str>) -> (String, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let accept = accept.map(|a| format!("Accept: {a}\r\n")).unwrap_or_default();
    stream.write_all(format!("GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n{accept}\r\n").as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    let content_type = head
        .lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-type: ").map(str::to_owned))
        .unwrap_or_default();
    (content_type, body.to_owned())
}

/// The families the Python client reads in `text`, by name.
fn parse(text: &str, format: &str) -> BTreeMap<String, Value> {
    use std::io::Write;
    let mut child = Command::new(python())
        .arg(repo_root().join("hack/tools/parse-metrics.py"))
        .arg(format)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{format} parser refused:\n{}\n{text}", String::from_utf8_lossy(&out.stderr));
    let families: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    families.into_iter().map(|f| (f["name"].as_str().unwrap().to_owned(), f)).collect()
}

/// The value of `family`'s sample `sample` whose labels include `labels`.
fn value(families: &BTreeMap<String, Value>, family: &str, sample: &str, labels: Value) -> Option<f64> {
    let wanted = labels.as_object().unwrap();
    families.get(family)?["samples"].as_array()?.iter().find_map(|s| {
        let matches = s["name"] == sample && wanted.iter().all(|(k, v)| s["labels"][k] == *v);
        matches.then(|| s["value"].as_f64()).flatten()
    })
}

#[tokio::test]
async fn both_formats_parse_with_help_types_and_the_operations_metrics() {
    let bed = testbed();
    let world = World::with_one_pod(bed, "web").await;
    let name = world.identity_name("web");
    let mut spec = world.pod_identity_spec();
    spec["owner"] = json!({ "team": "payments" });
    world.apply("ClusterSPIFFEID", &name, spec).await;
    let port = free_port();
    let operator =
        Operator::start(bed, &world, &bed.spire_socket(), &format!("metrics: {{bindAddress: '127.0.0.1:{port}'}}\n"));
    world.wait_ready(&operator, "ClusterSPIFFEID", &name, ("True", "Synced")).await;
    // A periodic check (every 2 s here) has run.
    let checked = eventually(Duration::from_secs(30), || async {
        let (_, body) = scrape(port, None).await;
        body.lines()
            .find(|l| l.starts_with("spire_steward_last_periodic_check_timestamp_seconds "))
            .filter(|l| !l.ends_with(" 0") && !l.ends_with(" 0.0"))
            .map(|_| ())
    })
    .await;
    assert!(checked.is_some(), "no periodic check\n{}", operator.log_text());

    let (content_type, openmetrics) =
        scrape(port, Some("application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5")).await;
    assert!(content_type.starts_with("application/openmetrics-text; version=1.0.0"), "{content_type}");
    assert!(openmetrics.ends_with("# EOF\n"));
    let (content_type, prometheus) = scrape(port, None).await;
    assert!(content_type.starts_with("text/plain; version=0.0.4"), "{content_type}");
    assert!(!prometheus.contains("# EOF"));

    for (format, text) in [("openmetrics", &openmetrics), ("prometheus", &prometheus)] {
        let families = parse(text, format);
        assert!(families.len() > 20, "{format}: {families:?}");
        for (name, family) in &families {
            assert!(!family["help"].as_str().unwrap_or_default().is_empty(), "{format}: {name} has no help");
            assert!(!["unknown", "untyped"].contains(&family["type"].as_str().unwrap()), "{format}: {name} untyped");
        }
        let v = |family: &str, sample: &str, labels: Value| value(&families, family, sample, labels);
        // Counters at zero from start-up.
        assert_eq!(
            v(
                "spire_steward_reconcile_errors",
                "spire_steward_reconcile_errors_total",
                json!({"category": "spire_rejected"})
            ),
            Some(0.0),
            "{format}"
        );
        assert_eq!(
            v("spire_steward_drift_detected", "spire_steward_drift_detected_total", json!({"class": "foreign"})),
            Some(0.0),
            "{format}"
        );
        assert_eq!(
            v("spire_steward_entries_written", "spire_steward_entries_written_total", json!({"operation": "create"})),
            Some(1.0),
            "{format}"
        );
        assert_eq!(
            v("spire_steward_entries_written", "spire_steward_entries_written_total", json!({"operation": "delete"})),
            Some(0.0),
            "{format}"
        );
        // What the operations metrics say of this world.
        let build = json!({ "version": env!("CARGO_PKG_VERSION") });
        assert_eq!(v("spire_steward_build_info", "spire_steward_build_info", build), Some(1.0), "{format}");
        assert_eq!(v("spire_steward_leader", "spire_steward_leader", json!({})), Some(1.0), "{format}");
        let ready = |condition: &str| {
            let labels = json!({ "kind": "ClusterSPIFFEID", "name": name, "namespace": "", "condition": condition });
            v("spire_steward_resource_ready_status", "spire_steward_resource_ready_status", labels)
        };
        assert_eq!((ready("True"), ready("False"), ready("Unknown")), (Some(1.0), Some(0.0), Some(0.0)), "{format}");
        assert_eq!(
            v("spire_steward_entries_by_team", "spire_steward_entries_by_team", json!({"team": "payments"})),
            Some(1.0),
            "{format}"
        );
        assert_eq!(
            v(
                "spire_steward_identity_exception_earliest_expiry_timestamp_seconds",
                "spire_steward_identity_exception_earliest_expiry_timestamp_seconds",
                json!({})
            ),
            Some(0.0),
            "{format}: no exception is active"
        );
    }

    // A resource that goes takes its series with it.
    world.delete("ClusterSPIFFEID", &name).await;
    let gone = eventually(Duration::from_secs(30), || async {
        let (_, body) = scrape(port, None).await;
        (!body.contains(&format!("name=\"{name}\""))).then_some(())
    })
    .await;
    assert!(gone.is_some(), "the deleted resource's readiness series stayed");
    drop(operator);
    world.clean_up().await;
}
