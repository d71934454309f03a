//! `make bench`: the operator converging N pods on the testbed, measured against SPIRE's own
//! write ceiling. Ignored by `cargo test`; run with
//! `cargo test --release --test bench -- --ignored --nocapture` (BENCH_PODS=N, default 1000).

mod support;

use std::time::{Duration, Instant};

use futures::{StreamExt, stream};
use serde_json::json;
use spire_steward::{
    spiffe::{Entry, EntryId, Selector, SpiffeId},
    spire::{ClientConfig, CreateOutcome, EntryFilter, SpireClient},
};
use support::{
    PrivateSpireServer,
    operator::{Operator, World, entries, free_port, http_get},
    testbed,
};

fn metric(body: &str, name: &str) -> f64 {
    body.lines().filter(|l| l.starts_with(name)).filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok()).sum()
}

fn process_figures(pid: u32) -> (u64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let peak_kib = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0);
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or_default().split_whitespace().collect();
    let ticks: f64 = fields.get(11).and_then(|u| u.parse::<f64>().ok()).unwrap_or(0.0)
        + fields.get(12).and_then(|s| s.parse::<f64>().ok()).unwrap_or(0.0);
    (peak_kib / 1024, ticks / 100.0)
}

#[tokio::test]
#[ignore = "a benchmark: run with make bench"]
async fn bench_converge_pods() {
    let pods: usize = std::env::var("BENCH_PODS").ok().and_then(|n| n.parse().ok()).unwrap_or(1000);
    let quiet =
        Duration::from_secs(std::env::var("BENCH_QUIET_SECONDS").ok().and_then(|n| n.parse().ok()).unwrap_or(60));
    let bed = testbed();
    // Two fresh servers: one measures SPIRE's ceiling, the other serves the operator, so neither
    // run writes into a datastore the other has already filled.
    let ceiling_server = PrivateSpireServer::start(bed);
    let ceiling_spire = SpireClient::new(ClientConfig::new(ceiling_server.socket()));
    let server = PrivateSpireServer::start(bed);
    let spire = SpireClient::new(ClientConfig::new(server.socket()));

    // SPIRE's own ceiling: the same batches the operator sends, straight from a client.
    let parent = SpiffeId::parse("spiffe://example.org/spire/agent/bench/ceiling").unwrap();
    let direct: Vec<Entry> = (0..pods)
        .map(|i| {
            let mut e = Entry::new(
                SpiffeId::parse(&format!("spiffe://example.org/ceiling/{i}")).unwrap(),
                parent.clone(),
                vec![Selector::parse(&format!("k8s:pod-uid:ceiling-{i}")).unwrap()],
            );
            e.id = Some(EntryId::parse(&format!("ceiling.{i}")).unwrap());
            e
        })
        .collect();
    let started = Instant::now();
    let outcomes = ceiling_spire.batch_create_entries(&direct).await.unwrap();
    let ceiling = started.elapsed();
    assert!(outcomes.iter().all(|o| matches!(o, CreateOutcome::Created(_))));
    drop(ceiling_server);

    let mut world = World::new(bed).await;
    let node_uid = world.node("node").await;
    let metrics_port = free_port();
    let operator = Operator::start(
        bed,
        &world,
        &server.socket(),
        &format!(
            "metrics: {{bindAddress: '127.0.0.1:{metrics_port}'}}\nhealth: {{healthProbeBindAddress: '0'}}\ngcInterval: 10m\nlogLevel: info\n"
        ),
    );
    let pid = operator.pid();
    let up = support::eventually(Duration::from_secs(30), || async { http_get(metrics_port, "/metrics").await }).await;
    assert!(up.is_some(), "{}", operator.log_text());

    // Phase 1: N pods exist; one ClusterSPIFFEID selects them all. Convergence is the time from
    // applying it to N entries in SPIRE: the operator's own throughput, comparable with the
    // ceiling above.
    let started = Instant::now();
    let world_ref = &world;
    stream::iter(0..pods)
        .map(|i| async move { world_ref.pod(&format!("p-{i}"), &[("app", "bench")], Some("node")).await })
        .buffer_unordered(32)
        .collect::<Vec<_>>()
        .await;
    let created = started.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let started = Instant::now();
    world
        .apply(
            "ClusterSPIFFEID",
            &format!("bench-{}", world.id),
            json!({
                "className": world.class,
                "spiffeIDTemplate": "spiffe://{{ .TrustDomain }}/ns/{{ .PodMeta.Namespace }}/pod/{{ .PodMeta.Name }}",
                "namespaceSelector": world.namespace_selector(),
                "dnsNameTemplates": ["{{ .PodMeta.Name }}.{{ .PodMeta.Namespace }}.svc"],
            }),
        )
        .await;
    // Progress is read off the operator's own counter of writes SPIRE acknowledged: polling SPIRE
    // itself would load the very server whose writes are being measured.
    let created_count = || async {
        let (_, body) = http_get(metrics_port, "/metrics").await.unwrap_or_default();
        metric(&body, "spire_steward_entries_written_total{operation=\"create\"}") as usize
    };
    while created_count().await < pods {
        assert!(started.elapsed() < Duration::from_secs(1800), "did not converge\n{}", operator.log_text());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let converged = started.elapsed();

    // Phase 2: pods arriving one at a time: the time from the API server accepting a pod to its
    // entry being in SPIRE, measured from outside the operator.
    let arrivals = 100;
    let mut latencies = Vec::with_capacity(arrivals);
    for i in 0..arrivals {
        let sent = Instant::now();
        world.pod(&format!("late-{i}"), &[("app", "bench")], Some("node")).await;
        while created_count().await < pods + i + 1 {
            assert!(sent.elapsed() < Duration::from_secs(60), "no entry for late-{i}\n{}", operator.log_text());
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        latencies.push(sent.elapsed());
    }
    latencies.sort();
    let percentile = |q: f64| latencies[((latencies.len() as f64 * q).ceil() as usize).clamp(1, latencies.len()) - 1];
    let (_, body) = http_get(metrics_port, "/metrics").await.unwrap();
    let on_node = EntryFilter {
        by_parent_id: Some(
            SpiffeId::parse(&format!("spiffe://example.org/spire/agent/k8s_psat/test/{node_uid}")).unwrap(),
        ),
        ..Default::default()
    };
    assert_eq!(spire.count_entries(&on_node).await.unwrap() as usize, pods + arrivals, "SPIRE holds every entry");

    // Phase 3: nothing changes for a while: no SPIRE call at all.
    let calls_before = metric(&body, "spire_steward_spire_requests_total");
    tokio::time::sleep(quiet).await;
    let (_, body_after) = http_get(metrics_port, "/metrics").await.unwrap();
    let calls_quiet = metric(&body_after, "spire_steward_spire_requests_total") - calls_before;
    let (peak_mib, cpu_seconds) = process_figures(pid);

    let ceiling_s = ceiling.as_secs_f64();
    println!("\n== spire-steward benchmark: {pods} pods ==");
    println!(
        "SPIRE batch-create ceiling: {pods} entries in {ceiling_s:.2} s ({:.0} entries/s)",
        pods as f64 / ceiling_s
    );
    println!("pods created through the API in {:.2} s", created.as_secs_f64());
    println!(
        "converged: {pods} entries in SPIRE {:.2} s after the ClusterSPIFFEID was applied ({:.2}x the SPIRE ceiling)",
        converged.as_secs_f64(),
        converged.as_secs_f64() / ceiling_s
    );
    println!(
        "pod-to-entry latency over {arrivals} arriving pods: p50 {:.0} ms, p99 {:.0} ms",
        percentile(0.5).as_secs_f64() * 1000.0,
        percentile(0.99).as_secs_f64() * 1000.0
    );
    println!("SPIRE calls during a quiet {} s: {calls_quiet}", quiet.as_secs());
    println!("operator peak RSS: {peak_mib} MiB; CPU: {cpu_seconds:.1} s");
    assert_eq!(calls_quiet, 0.0, "no SPIRE calls at steady state between periodic checks");

    drop(operator);
    let ids: Vec<EntryId> = entries(&spire, &world.prefix).await.into_iter().filter_map(|e| e.id).collect();
    spire.batch_delete_entries(&ids).await.unwrap();
    world.clean_up().await;
}
