//! The operator's configuration: a YAML file whose keys keep spire-controller-manager's names,
//! overridden by command-line flags and environment variables, and validated once at start-up.
//!
//! Validation refuses rather than defaults: an unknown key, a zero or absurd interval, a bad trust
//! domain, regular expression or prefix stops the operator with an error naming the key.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use regex::Regex;
use serde::Deserialize;

use crate::{duration, spiffe::TrustDomain};

mod manifest_dir;
mod scm;
mod selector;
mod tcp;

pub use manifest_dir::{StaticManifests, expand_env};

pub use selector::{CLASS_NAME_LABEL, LabelSelectorFile};

/// The `apiVersion` a configuration file may declare.
pub const API_VERSION: &str = "spire-steward.io/v1alpha1";
/// The `kind` a configuration file may declare.
pub const KIND: &str = "OperatorConfig";

const DEFAULT_IGNORE_NAMESPACES: [&str; 3] = ["kube-system", "kube-public", "spire-system"];
const DEFAULT_SOCKET: &str = "/spire-server/api.sock";
const DEFAULT_ENTRY_ID_PREFIX: &str = "spire-steward";
const DEFAULT_PARENT_ID_TEMPLATE: &str =
    "spiffe://{{ .TrustDomain }}/spire/agent/k8s_psat/{{ .ClusterName }}/{{ .NodeMeta.UID }}";
const DEFAULT_GC_INTERVAL: Duration = Duration::from_secs(60);
const GC_INTERVAL_RANGE: (Duration, Duration) = (Duration::from_secs(1), Duration::from_secs(24 * 3600));
const DEFAULT_EXCEPTION_WARNING_WINDOW: Duration = Duration::from_secs(72 * 3600);
const EXCEPTION_WARNING_WINDOW_RANGE: (Duration, Duration) = (Duration::ZERO, Duration::from_secs(365 * 24 * 3600));
const DEFAULT_SPIRE_CALL_TIMEOUT: Duration = Duration::from_secs(30);
const SPIRE_CALL_TIMEOUT_RANGE: (Duration, Duration) = (Duration::from_millis(100), Duration::from_secs(600));
const DEFAULT_REPORT_INTERVAL: Duration = Duration::from_secs(300);
const REPORT_INTERVAL_RANGE: (Duration, Duration) = (Duration::from_secs(1), Duration::from_secs(24 * 3600));
const LEASE_RANGE: (Duration, Duration) = (Duration::from_millis(100), Duration::from_secs(3600));

/// A configuration value that cannot be used, and the key it came from.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("reading {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}: {source}")]
    Syntax { path: PathBuf, source: serde_yaml_ng::Error },
    #[error("{key}: {message}")]
    Invalid { key: &'static str, message: String },
}

fn invalid(key: &'static str, message: impl Into<String>) -> Error {
    Error::Invalid { key, message: message.into() }
}

/// The configuration file, as written.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct File {
    pub api_version: Option<String>,
    pub kind: Option<String>,
    pub trust_domain: Option<String>,
    pub cluster_name: Option<String>,
    pub cluster_domain: Option<String>,
    pub ignore_namespaces: Option<Vec<String>>,
    pub class_name: Option<String>,
    pub watch_classless: Option<bool>,
    #[serde(rename = "parentIDTemplate")]
    pub parent_id_template: Option<String>,
    #[serde(rename = "entryIDPrefix")]
    pub entry_id_prefix: Option<String>,
    #[serde(rename = "adoptEntryIDPrefixes")]
    pub adopt_entry_id_prefixes: Option<Vec<String>>,
    pub spire_server_socket_path: Option<PathBuf>,
    /// `host:port` of the SPIRE Server's API: reached over TCP with SPIFFE mTLS, not the socket.
    pub spire_server_address: Option<String>,
    /// The local spire-agent's Workload API socket (TCP mode).
    pub spire_agent_socket_path: Option<PathBuf>,
    /// The SPIFFE ID the SPIRE Server must present (TCP mode).
    #[serde(rename = "spireServerSPIFFEID")]
    pub spire_server_spiffe_id: Option<String>,
    pub spire_call_timeout: Option<DurationValue>,
    pub reconcile: Option<ReconcileFile>,
    pub gc_interval: Option<DurationValue>,
    pub exception_warning_window: Option<DurationValue>,
    pub deletion_breaker: Option<crate::breaker::BreakerFile>,
    pub audit: Option<crate::audit::AuditFile>,
    pub open_reports: Option<OpenReportsFile>,
    pub mode: Option<String>,
    pub drift_policy: Option<String>,
    pub leader_election: Option<LeaderElectionFile>,
    pub metrics: Option<MetricsFile>,
    pub health: Option<HealthFile>,
    pub log_level: Option<String>,
    pub log_encoding: Option<String>,
    /// Only ClusterSPIFFEIDs this label selector matches are watched.
    #[serde(rename = "clusterSPIFFEIDLabelSelector")]
    pub cluster_spiffe_id_label_selector: Option<LabelSelectorFile>,
    /// Only ClusterSPIFFEIDs labelled `spire.spiffe.io/class-name=<className>` are watched.
    pub filter_by_class_name: Option<bool>,
    /// Static manifest mode: resources read from this directory's `*.yaml` files.
    pub static_manifest_path: Option<PathBuf>,
    /// Environment variables expanded in the static manifests.
    pub expand_env_static_manifests: Option<bool>,
    /// Read from a spire-controller-manager file: the keys accepted that change nothing here.
    #[serde(skip)]
    pub ignored_keys: Vec<&'static str>,
}

/// A duration written as a Go duration string (`"10s"`) or as integer nanoseconds, the form
/// spire-controller-manager's chart writes.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum DurationValue {
    Nanos(u64),
    Text(String),
}

impl DurationValue {
    fn parse(&self, key: &'static str) -> Result<Duration, Error> {
        match self {
            DurationValue::Nanos(n) => Ok(Duration::from_nanos(*n)),
            DurationValue::Text(s) => duration::parse(s).map_err(|e| invalid(key, e.to_string())),
        }
    }
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReconcileFile {
    #[serde(rename = "clusterSPIFFEIDs")]
    pub cluster_spiffe_ids: Option<bool>,
    pub cluster_static_entries: Option<bool>,
    pub cluster_federated_trust_domains: Option<bool>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LeaderElectionFile {
    pub leader_elect: Option<bool>,
    pub resource_name: Option<String>,
    pub resource_namespace: Option<String>,
    pub lease_duration: Option<DurationValue>,
    pub renew_deadline: Option<DurationValue>,
    pub retry_period: Option<DurationValue>,
}

/// `openReports`: OpenReports objects kept current in the cluster.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OpenReportsFile {
    pub enabled: Option<bool>,
    pub interval: Option<DurationValue>,
}

/// Whether, and how often, the operator keeps `openreports.io` Report and ClusterReport objects
/// current (the CRDs are the upstream ones, installed by the user).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpenReports {
    pub enabled: bool,
    /// At most this often, at a periodic check.
    pub interval: Duration,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MetricsFile {
    pub bind_address: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HealthFile {
    pub health_probe_bind_address: Option<String>,
}

/// Which resource kinds the operator reconciles. Unlike spire-controller-manager, a kind left out
/// of a `reconcile` block stays on: switching one off never happens by omission.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReconcileToggles {
    pub cluster_spiffe_ids: bool,
    pub cluster_static_entries: bool,
    pub cluster_federated_trust_domains: bool,
}

/// Leader election on a coordination.k8s.io Lease.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaderElection {
    pub enabled: bool,
    pub lease_name: String,
    /// None: the namespace the operator runs in.
    pub lease_namespace: Option<String>,
    pub lease_duration: Duration,
    pub renew_deadline: Duration,
    pub retry_period: Duration,
}

/// Log output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogEncoding {
    Console,
    Json,
}

/// Whether the operator writes to SPIRE.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    /// Plans are written to SPIRE.
    #[default]
    Enforce,
    /// Everything is planned and reported; nothing is written to SPIRE.
    Observe,
}

impl Mode {
    fn parse(value: Option<&str>) -> Result<Self, Error> {
        match value {
            None | Some("Enforce") => Ok(Mode::Enforce),
            Some("Observe") => Ok(Mode::Observe),
            Some(other) => Err(invalid("mode", format!("{other:?} is not Enforce or Observe"))),
        }
    }
}

/// The validated configuration the operator runs with.
#[derive(Clone, Debug)]
pub struct Config {
    /// The label selector of the ClusterSPIFFEID watch (`clusterSPIFFEIDLabelSelector`,
    /// `filterByClassName`); None watches them all.
    pub cluster_spiffe_id_selector: Option<String>,
    /// Keys of a spire-controller-manager file that were accepted and change nothing here.
    pub ignored_keys: Vec<&'static str>,
    pub trust_domain: TrustDomain,
    pub cluster_name: String,
    pub cluster_domain: String,
    /// Namespaces whose pods never get entries; matched anywhere in the name, as
    /// spire-controller-manager does.
    pub ignore_namespaces: Vec<Regex>,
    pub class_name: Option<String>,
    pub watch_classless: bool,
    pub parent_id_template: String,
    /// `parent_id_template`, parsed once when the configuration is checked.
    pub parent_id: std::sync::Arc<crate::template::Template>,
    /// Entries this operator owns have IDs `<entry_id_prefix>.<id>`.
    pub entry_id_prefix: String,
    /// Entries under these prefixes are taken over in place rather than re-created.
    pub adopt_entry_id_prefixes: Vec<String>,
    pub spire_server_socket_path: PathBuf,
    /// TCP with SPIFFE mTLS instead of the socket, when `spireServerAddress` is set.
    pub spire_tcp: Option<crate::spire::TcpTransport>,
    pub spire_call_timeout: Duration,
    pub reconcile: ReconcileToggles,
    /// How often the owned entries are compared with SPIRE in full.
    pub gc_interval: Duration,
    /// How long before an IdentityException lapses it shows `ExpiringSoon` (and one Warning
    /// Event is published).
    pub exception_warning_window: Duration,
    /// When a pass deleting many owned entries waits for confirmation.
    pub deletion_breaker: crate::breaker::Breaker,
    /// Where audit records go.
    pub audit: crate::audit::Destination,
    pub open_reports: OpenReports,
    pub mode: Mode,
    /// What drift of owned entries calls for, unless a resource's `spec.driftPolicy` says
    /// otherwise: repair (`Enforce`, the default) or only report it (`Report`).
    pub drift_policy: crate::drift::DriftPolicy,
    pub leader_election: LeaderElection,
    /// None: metrics are not served.
    pub metrics_address: Option<SocketAddr>,
    /// None: probes are not served.
    pub health_address: Option<SocketAddr>,
    pub log_level: tracing::Level,
    pub log_encoding: LogEncoding,
    /// Static manifest mode, when `staticManifestPath` is set.
    pub static_manifests: Option<StaticManifests>,
}

/// Command-line flags (and their environment variables), each overriding the file key of the
/// same meaning. Values are checked with the file's, so an error names the key either way.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct Overrides {
    /// Overrides `trustDomain`.
    #[arg(long, env = "SPIRE_STEWARD_TRUST_DOMAIN")]
    pub trust_domain: Option<String>,
    /// Overrides `clusterName`.
    #[arg(long, env = "SPIRE_STEWARD_CLUSTER_NAME")]
    pub cluster_name: Option<String>,
    /// Overrides `clusterDomain`.
    #[arg(long, env = "SPIRE_STEWARD_CLUSTER_DOMAIN")]
    pub cluster_domain: Option<String>,
    /// Overrides `className`.
    #[arg(long, env = "SPIRE_STEWARD_CLASS_NAME")]
    pub class_name: Option<String>,
    /// Overrides `watchClassless` (true or false).
    #[arg(long, env = "SPIRE_STEWARD_WATCH_CLASSLESS", value_name = "BOOL")]
    pub watch_classless: Option<bool>,
    /// Overrides `spireServerSocketPath`.
    #[arg(long, env = "SPIRE_STEWARD_SPIRE_SERVER_SOCKET_PATH")]
    pub spire_server_socket_path: Option<PathBuf>,
    /// Overrides `entryIDPrefix`.
    #[arg(long, env = "SPIRE_STEWARD_ENTRY_ID_PREFIX")]
    pub entry_id_prefix: Option<String>,
    /// Overrides `gcInterval` (a duration such as 30s).
    #[arg(long, env = "SPIRE_STEWARD_GC_INTERVAL")]
    pub gc_interval: Option<String>,
    /// Overrides `leaderElection.leaderElect` (true or false).
    #[arg(long, env = "SPIRE_STEWARD_LEADER_ELECT", value_name = "BOOL")]
    pub leader_elect: Option<bool>,
    /// Overrides `metrics.bindAddress` (host:port, or 0 to serve no metrics).
    #[arg(long, env = "SPIRE_STEWARD_METRICS_BIND_ADDRESS")]
    pub metrics_bind_address: Option<String>,
    /// Overrides `health.healthProbeBindAddress` (host:port, or 0 to serve no probes).
    #[arg(long, env = "SPIRE_STEWARD_HEALTH_PROBE_BIND_ADDRESS")]
    pub health_probe_bind_address: Option<String>,
    /// Overrides `logLevel` (debug, info, warn, error).
    #[arg(long, env = "SPIRE_STEWARD_LOG_LEVEL")]
    pub log_level: Option<String>,
    /// Overrides `logEncoding` (console or json).
    #[arg(long, env = "SPIRE_STEWARD_LOG_ENCODING")]
    pub log_encoding: Option<String>,
}

impl File {
    /// Applies flags over the file's keys.
    pub fn override_with(mut self, o: Overrides) -> Self {
        fn set<T>(value: Option<T>, slot: &mut Option<T>) {
            if value.is_some() {
                *slot = value;
            }
        }
        set(o.trust_domain, &mut self.trust_domain);
        set(o.cluster_name, &mut self.cluster_name);
        set(o.cluster_domain, &mut self.cluster_domain);
        set(o.class_name, &mut self.class_name);
        set(o.watch_classless, &mut self.watch_classless);
        set(o.spire_server_socket_path, &mut self.spire_server_socket_path);
        set(o.entry_id_prefix, &mut self.entry_id_prefix);
        set(o.gc_interval.map(DurationValue::Text), &mut self.gc_interval);
        set(o.log_level, &mut self.log_level);
        set(o.log_encoding, &mut self.log_encoding);
        if o.leader_elect.is_some() {
            set(o.leader_elect, &mut self.leader_election.get_or_insert_with(Default::default).leader_elect);
        }
        if o.metrics_bind_address.is_some() {
            set(o.metrics_bind_address, &mut self.metrics.get_or_insert_with(Default::default).bind_address);
        }
        if o.health_probe_bind_address.is_some() {
            set(
                o.health_probe_bind_address,
                &mut self.health.get_or_insert_with(Default::default).health_probe_bind_address,
            );
        }
        self
    }

    /// Reads a configuration file; unknown keys are refused.
    pub fn read(path: &std::path::Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Read { path: path.into(), source })?;
        Self::parse(&text).map_err(|source| Error::Syntax { path: path.into(), source })
    }

    /// Parses a configuration file: spire-steward's own (`kind: OperatorConfig`), or a
    /// spire-controller-manager one (`kind: ControllerManagerConfig`) read as it is.
    pub fn parse(text: &str) -> Result<Self, serde_yaml_ng::Error> {
        if text.trim().is_empty() {
            return Ok(Self::default());
        }
        let document: serde_yaml_ng::Value = serde_yaml_ng::from_str(text)?;
        if scm::is_scm(&document) {
            let (mut file, ignored) =
                scm::translate(document).map_err(<serde_yaml_ng::Error as serde::de::Error>::custom)?;
            file.ignored_keys = ignored;
            return Ok(file);
        }
        serde_yaml_ng::from_str(text)
    }

    /// Checks every value and builds the configuration.
    pub fn validate(self) -> Result<Config, Error> {
        let static_manifests = manifest_dir::static_manifests(&self)?;
        if let Some(v) = self.api_version.as_deref().filter(|v| *v != API_VERSION) {
            return Err(invalid("apiVersion", format!("{v:?} is not {API_VERSION:?}")));
        }
        if let Some(k) = self.kind.as_deref().filter(|k| *k != KIND) {
            return Err(invalid("kind", format!("{k:?} is not {KIND:?}")));
        }
        let trust_domain = self.trust_domain.ok_or_else(|| invalid("trustDomain", "is required"))?;
        let trust_domain = TrustDomain::parse(&trust_domain).map_err(|e| invalid("trustDomain", e.to_string()))?;
        let cluster_name = self.cluster_name.ok_or_else(|| invalid("clusterName", "is required"))?;
        check_path_segment("clusterName", &cluster_name)?;
        let ignore_namespaces = self
            .ignore_namespaces
            .unwrap_or_else(|| DEFAULT_IGNORE_NAMESPACES.map(String::from).to_vec())
            .iter()
            .map(|re| Regex::new(re).map_err(|e| invalid("ignoreNamespaces", format!("{re:?}: {e}"))))
            .collect::<Result<_, _>>()?;
        let entry_id_prefix = self.entry_id_prefix.unwrap_or_else(|| DEFAULT_ENTRY_ID_PREFIX.into());
        let entry_id_prefix = entry_id_prefix.strip_suffix('.').unwrap_or(&entry_id_prefix).to_owned();
        check_prefix("entryIDPrefix", &entry_id_prefix)?;
        let mut adopt = Vec::new();
        for prefix in self.adopt_entry_id_prefixes.unwrap_or_default() {
            let prefix = prefix.strip_suffix('.').unwrap_or(&prefix).to_owned();
            check_prefix("adoptEntryIDPrefixes", &prefix)?;
            if prefix == entry_id_prefix {
                return Err(invalid("adoptEntryIDPrefixes", format!("{prefix:?} is the operator's own entryIDPrefix")));
            }
            adopt.push(prefix);
        }
        let parent_id_template = self.parent_id_template.unwrap_or_else(|| DEFAULT_PARENT_ID_TEMPLATE.into());
        if !parent_id_template.starts_with("spiffe://") {
            return Err(invalid("parentIDTemplate", "must start with spiffe://"));
        }
        let parent_id = crate::template::Template::parse(&parent_id_template)
            .map_err(|e| invalid("parentIDTemplate", e.to_string()))?;
        let reconcile = self.reconcile.unwrap_or_default();
        let gc_interval = bounded("gcInterval", self.gc_interval, DEFAULT_GC_INTERVAL, GC_INTERVAL_RANGE)?;
        let exception_warning_window = bounded(
            "exceptionWarningWindow",
            self.exception_warning_window,
            DEFAULT_EXCEPTION_WARNING_WINDOW,
            EXCEPTION_WARNING_WINDOW_RANGE,
        )?;
        let deletion_breaker = self.deletion_breaker.unwrap_or_default().validate();
        let deletion_breaker =
            deletion_breaker.map_err(|e| invalid("deletionBreaker.maxSharePercent", e.to_string()))?;
        let audit = self.audit.unwrap_or_default().validate().map_err(|e| invalid("audit", e.to_string()))?;
        let reports = self.open_reports.unwrap_or_default();
        let open_reports = OpenReports {
            enabled: reports.enabled.unwrap_or(false),
            interval: bounded(
                "openReports.interval",
                reports.interval,
                DEFAULT_REPORT_INTERVAL,
                REPORT_INTERVAL_RANGE,
            )?,
        };
        let mode = Mode::parse(self.mode.as_deref())?;
        let drift_policy = match self.drift_policy.as_deref() {
            None => crate::drift::DriftPolicy::default(),
            Some(value) => crate::drift::DriftPolicy::parse(value)
                .ok_or_else(|| invalid("driftPolicy", format!("{value:?} is not Enforce or Report")))?,
        };
        let spire_call_timeout =
            bounded("spireCallTimeout", self.spire_call_timeout, DEFAULT_SPIRE_CALL_TIMEOUT, SPIRE_CALL_TIMEOUT_RANGE)?;
        let leader_election = leader_election(self.leader_election.unwrap_or_default())?;
        let metrics_address =
            address("metrics.bindAddress", self.metrics.and_then(|m| m.bind_address), "0.0.0.0:8080")?;
        let health_address = address(
            "health.healthProbeBindAddress",
            self.health.and_then(|h| h.health_probe_bind_address),
            "0.0.0.0:8081",
        )?;
        let log_level = match self.log_level.as_deref().map(str::to_ascii_lowercase).as_deref() {
            None | Some("info") => tracing::Level::INFO,
            Some("debug") => tracing::Level::DEBUG,
            Some("warn") => tracing::Level::WARN,
            Some("error") => tracing::Level::ERROR,
            Some("trace") => tracing::Level::TRACE,
            Some(other) => {
                return Err(invalid("logLevel", format!("{other:?} is not one of debug, info, warn, error")));
            }
        };
        let log_encoding = match self.log_encoding.as_deref() {
            None | Some("console") => LogEncoding::Console,
            Some("json") => LogEncoding::Json,
            Some(other) => {
                return Err(invalid("logEncoding", format!("{other:?} is not console or json")));
            }
        };
        let spire_tcp = tcp::transport(
            self.spire_server_address,
            self.spire_agent_socket_path,
            self.spire_server_spiffe_id,
            &trust_domain,
        )?;
        let class_name = self.class_name.filter(|c| !c.is_empty());
        let cluster_spiffe_id_selector = selector::watch_selector(
            self.cluster_spiffe_id_label_selector.as_ref(),
            self.filter_by_class_name.unwrap_or(false),
            class_name.as_deref(),
        )?;
        Ok(Config {
            cluster_spiffe_id_selector,
            ignored_keys: self.ignored_keys,
            trust_domain,
            cluster_name,
            cluster_domain: self.cluster_domain.unwrap_or_default(),
            ignore_namespaces,
            class_name,
            watch_classless: self.watch_classless.unwrap_or(false),
            parent_id_template,
            parent_id: std::sync::Arc::new(parent_id),
            entry_id_prefix,
            adopt_entry_id_prefixes: adopt,
            spire_server_socket_path: self.spire_server_socket_path.unwrap_or_else(|| DEFAULT_SOCKET.into()),
            spire_tcp,
            spire_call_timeout,
            reconcile: ReconcileToggles {
                // Static manifest mode knows no pods: their entries are left as they are.
                cluster_spiffe_ids: static_manifests.is_none() && reconcile.cluster_spiffe_ids.unwrap_or(true),
                cluster_static_entries: reconcile.cluster_static_entries.unwrap_or(true),
                cluster_federated_trust_domains: reconcile.cluster_federated_trust_domains.unwrap_or(true),
            },
            gc_interval,
            exception_warning_window,
            deletion_breaker,
            audit,
            open_reports,
            mode,
            drift_policy,
            leader_election,
            metrics_address,
            health_address,
            log_level,
            log_encoding,
            static_manifests,
        })
    }
}

fn check_path_segment(key: &'static str, value: &str) -> Result<(), Error> {
    let ok = !value.is_empty()
        && value != "."
        && value != ".."
        && value.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    if ok {
        Ok(())
    } else {
        Err(invalid(key, format!("{value:?} must be letters, digits, '.', '-' or '_' (it becomes part of SPIFFE IDs)")))
    }
}

fn check_prefix(key: &'static str, prefix: &str) -> Result<(), Error> {
    let ok = !prefix.is_empty()
        && prefix.len() <= 64
        && prefix.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'));
    if ok { Ok(()) } else { Err(invalid(key, format!("{prefix:?} must be 1 to 64 letters, digits, '-' or '_'"))) }
}

fn bounded(
    key: &'static str,
    value: Option<DurationValue>,
    default: Duration,
    (min, max): (Duration, Duration),
) -> Result<Duration, Error> {
    let Some(value) = value else {
        return Ok(default);
    };
    let d = value.parse(key)?;
    if d < min || d > max {
        return Err(invalid(
            key,
            format!("{} is outside {}..{}", duration::format(d), duration::format(min), duration::format(max)),
        ));
    }
    Ok(d)
}

fn leader_election(file: LeaderElectionFile) -> Result<LeaderElection, Error> {
    let lease_duration =
        bounded("leaderElection.leaseDuration", file.lease_duration, Duration::from_secs(15), LEASE_RANGE)?;
    let renew_deadline =
        bounded("leaderElection.renewDeadline", file.renew_deadline, Duration::from_secs(10), LEASE_RANGE)?;
    let retry_period = bounded("leaderElection.retryPeriod", file.retry_period, Duration::from_secs(2), LEASE_RANGE)?;
    if renew_deadline >= lease_duration {
        return Err(invalid("leaderElection.renewDeadline", "must be shorter than leaseDuration"));
    }
    if retry_period >= renew_deadline {
        return Err(invalid("leaderElection.retryPeriod", "must be shorter than renewDeadline"));
    }
    let lease_name = file.resource_name.unwrap_or_else(|| "spire-steward".into());
    if lease_name.is_empty() {
        return Err(invalid("leaderElection.resourceName", "must not be empty"));
    }
    Ok(LeaderElection {
        enabled: file.leader_elect.unwrap_or(false),
        lease_name,
        lease_namespace: file.resource_namespace.filter(|n| !n.is_empty()),
        lease_duration,
        renew_deadline,
        retry_period,
    })
}

/// Parses a listen address; `"0"` turns the endpoint off, as in spire-controller-manager, and a
/// bare `:port` listens on every interface.
fn address(key: &'static str, value: Option<String>, default: &str) -> Result<Option<SocketAddr>, Error> {
    let value = value.unwrap_or_else(|| default.into());
    if value == "0" {
        return Ok(None);
    }
    let full = if value.starts_with(':') { format!("0.0.0.0{value}") } else { value.clone() };
    full.parse().map(Some).map_err(|_| invalid(key, format!("{value:?} is not host:port or \"0\"")))
}

#[cfg(test)]
mod tests;
