//! The configuration file: keys, defaults, overrides and every refusal naming its key.
use super::*;

fn load(yaml: &str) -> Result<Config, String> {
    File::parse(yaml).map_err(|e| e.to_string())?.validate().map_err(|e| e.to_string())
}

const MINIMAL: &str = "trustDomain: example.org\nclusterName: demo\n";

#[test]
fn minimal_file_gets_the_defaults() {
    let c = load(MINIMAL).unwrap();
    assert_eq!(c.trust_domain.as_str(), "example.org");
    assert_eq!(c.cluster_name, "demo");
    assert_eq!(c.entry_id_prefix, "spire-steward");
    assert_eq!(c.spire_server_socket_path, PathBuf::from(DEFAULT_SOCKET));
    assert_eq!(c.gc_interval, DEFAULT_GC_INTERVAL);
    assert_eq!(c.ignore_namespaces.len(), 3);
    assert_eq!(c.parent_id_template, DEFAULT_PARENT_ID_TEMPLATE);
    assert!(c.reconcile.cluster_spiffe_ids && c.reconcile.cluster_static_entries);
    assert!(!c.leader_election.enabled);
    assert_eq!(c.metrics_address, Some("0.0.0.0:8080".parse().unwrap()));
    assert_eq!(c.log_encoding, LogEncoding::Console);
    assert_eq!(c.mode, Mode::Enforce);
    assert_eq!(load(&format!("{MINIMAL}mode: Observe\n")).unwrap().mode, Mode::Observe);
    assert_eq!(c.drift_policy, crate::drift::DriftPolicy::Enforce);
}

#[test]
fn a_full_file_in_spire_controller_manager_terms_loads() {
    let c = load(
        "apiVersion: spire-steward.io/v1alpha1\nkind: OperatorConfig\ntrustDomain: example.org\n\
         clusterName: prod\nclusterDomain: cluster.local\nignoreNamespaces: [kube-system, '^spire-']\n\
         className: blue\nwatchClassless: true\n\
         parentIDTemplate: 'spiffe://{{ .TrustDomain }}/spire/agent/x509pop/{{ .NodeMeta.Name }}'\n\
         entryIDPrefix: prod.\nadoptEntryIDPrefixes: [scm]\nspireServerSocketPath: /run/spire/api.sock\n\
         reconcile: {clusterSPIFFEIDs: true, clusterStaticEntries: false}\ngcInterval: 10000000000\n\
         leaderElection: {leaderElect: true, resourceNamespace: spire-system, leaseDuration: 20s}\n\
         metrics: {bindAddress: ':9090'}\nhealth: {healthProbeBindAddress: '0'}\n\
         logLevel: DEBUG\nlogEncoding: json\ndriftPolicy: Report\n",
    )
    .unwrap();
    assert_eq!(c.entry_id_prefix, "prod");
    assert_eq!(c.adopt_entry_id_prefixes, ["scm"]);
    assert_eq!(c.gc_interval, Duration::from_secs(10));
    assert!(!c.reconcile.cluster_static_entries);
    assert!(c.reconcile.cluster_federated_trust_domains, "a kind left out stays on");
    assert_eq!(c.leader_election.lease_duration, Duration::from_secs(20));
    assert_eq!(c.metrics_address, Some("0.0.0.0:9090".parse().unwrap()));
    assert_eq!(c.health_address, None);
    assert_eq!(c.log_level, tracing::Level::DEBUG);
    assert_eq!(c.class_name.as_deref(), Some("blue"));
    assert_eq!(c.drift_policy, crate::drift::DriftPolicy::Report);
    assert!(c.ignore_namespaces[1].is_match("spire-system"));
}

#[test]
fn flags_override_the_file_and_are_checked_like_it() {
    let file = File::parse(
        "trustDomain: example.org\nclusterName: demo\nclusterDomain: cluster.local\n\
         leaderElection: {leaderElect: true, leaseDuration: 20s}\nmetrics: {bindAddress: ':9090'}\n",
    )
    .unwrap();
    let flags = Overrides {
        cluster_name: Some("prod".into()),
        cluster_domain: Some("corp.local".into()),
        watch_classless: Some(true),
        gc_interval: Some("5m".into()),
        leader_elect: Some(false),
        metrics_bind_address: Some("0".into()),
        health_probe_bind_address: Some("127.0.0.1:9999".into()),
        ..Default::default()
    };
    let c = file.clone().override_with(flags).validate().unwrap();
    assert_eq!((c.trust_domain.as_str(), c.cluster_name.as_str()), ("example.org", "prod"));
    assert_eq!(c.cluster_domain, "corp.local");
    assert!(c.watch_classless);
    assert_eq!(c.gc_interval, Duration::from_secs(300));
    assert!(!c.leader_election.enabled);
    assert_eq!(c.leader_election.lease_duration, Duration::from_secs(20), "the rest of the key stays");
    assert_eq!(c.metrics_address, None);
    assert_eq!(c.health_address, Some("127.0.0.1:9999".parse().unwrap()));

    let unchanged = file.clone().override_with(Overrides::default()).validate().unwrap();
    assert!(unchanged.leader_election.enabled);
    assert_eq!(unchanged.metrics_address, Some("0.0.0.0:9090".parse().unwrap()));

    let bad = Overrides { gc_interval: Some("0s".into()), ..Default::default() };
    let err = file.clone().override_with(bad).validate().unwrap_err().to_string();
    assert!(err.starts_with("gcInterval: 0s is outside"), "{err}");
    let bad = Overrides { health_probe_bind_address: Some("nowhere".into()), ..Default::default() };
    let err = file.override_with(bad).validate().unwrap_err().to_string();
    assert!(err.starts_with("health.healthProbeBindAddress: "), "{err}");
}

#[test]
fn bad_values_are_refused_naming_the_key() {
    let cases = [
        ("clusterName: demo\n", "trustDomain: is required"),
        ("trustDomain: example.org\n", "clusterName: is required"),
        ("trustDomain: Example.org\nclusterName: d\n", "trustDomain: "),
        ("trustDomain: example.org\nclusterName: 'a/b'\n", "clusterName: "),
        ("unknownKey: 1\n", "unknown field `unknownKey`"),
        ("gcinterval: 10s\n", "unknown field `gcinterval`"),
        ("reconcile: {clusterSpiffeIDs: true}\n", "unknown field `clusterSpiffeIDs`"),
        ("gcInterval: 0s\n", "gcInterval: 0s is outside 1s..24h0m0s"),
        ("gcInterval: 0\n", "gcInterval: 0s is outside"),
        ("gcInterval: 400h\n", "gcInterval: 400h0m0s is outside"),
        ("gcInterval: ten seconds\n", "gcInterval: \"ten seconds\" is not a duration"),
        ("ignoreNamespaces: ['(']\n", "ignoreNamespaces: \"(\": regex parse error"),
        ("entryIDPrefix: ''\n", "entryIDPrefix: "),
        ("entryIDPrefix: 'a b'\n", "entryIDPrefix: "),
        ("adoptEntryIDPrefixes: [spire-steward]\n", "adoptEntryIDPrefixes: \"spire-steward\" is the operator's own"),
        ("parentIDTemplate: '{{ .NodeMeta.UID }}'\n", "parentIDTemplate: must start with spiffe://"),
        ("parentIDTemplate: 'spiffe://x/{{ .NodeMeta.UID'\n", "parentIDTemplate: template: parse error at line 1"),
        ("spireCallTimeout: 1ms\n", "spireCallTimeout: 1ms is outside"),
        ("leaderElection: {renewDeadline: 20s}\n", "leaderElection.renewDeadline: must be shorter than leaseDuration"),
        ("metrics: {bindAddress: nowhere}\n", "metrics.bindAddress: \"nowhere\" is not host:port"),
        ("logLevel: loud\n", "logLevel: \"loud\" is not one of"),
        ("logEncoding: xml\n", "logEncoding: \"xml\" is not console or json"),
        ("mode: observe\n", "mode: \"observe\" is not Enforce or Observe"),
        ("deletionBreaker: {maxSharePercent: 101}\n", "deletionBreaker.maxSharePercent: 101 is above 100"),
        ("driftPolicy: report\n", "driftPolicy: \"report\" is not Enforce or Report"),
        ("driftPolicy: Audit\n", "driftPolicy: \"Audit\" is not Enforce or Report"),
        ("kind: ControllerManagerConfig\n", "kind: \"ControllerManagerConfig\" is not \"OperatorConfig\""),
    ];
    for (extra, want) in cases {
        let yaml = if extra.starts_with("trustDomain") || extra.starts_with("clusterName") {
            extra.to_owned()
        } else {
            format!("{MINIMAL}{extra}")
        };
        let err = load(&yaml).unwrap_err();
        assert!(err.contains(want), "{extra:?}: got {err:?}, want {want:?}");
    }
}
