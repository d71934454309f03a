//! Test support for the real-server tests: starts (or reuses) the local testbed of etcd,
//! kube-apiserver and spire-server once per test binary, and hands out clients and unique names.
//!
//! When the testbed is already up (`make testbed-up`, as `make test` does) it is reused and left
//! running. Otherwise it is started here and stopped by its watchdog when the test binary exits.
#![allow(dead_code)]

pub mod agent;
pub mod apiserver;
pub mod audit;
pub mod cel;
pub mod cli;
pub mod drift;
pub mod operator;

use std::{
    collections::HashMap,
    io::Write,
    path::{Path, PathBuf},
    process::Command,
    sync::OnceLock,
    time::Duration,
};

use kube::config::{KubeConfigOptions, Kubeconfig};
use spire_steward::spire::{ClientConfig, SpireClient};

/// The running testbed, as described by `target/testbed/env`.
pub struct Testbed {
    env: HashMap<String, String>,
}

impl Testbed {
    pub fn var(&self, key: &str) -> &str {
        self.env.get(key).unwrap_or_else(|| panic!("testbed env has no {key}"))
    }

    pub fn spire_socket(&self) -> PathBuf {
        PathBuf::from(self.var("SPIRE_SERVER_SOCKET"))
    }

    pub fn trust_domain(&self) -> &str {
        self.var("SPIRE_TRUST_DOMAIN")
    }

    /// The lines of an operator configuration that reach the testbed's SPIRE server the way
    /// this run of the suite does: nothing over the socket (`SPIRE_STEWARD_TEST_TRANSPORT`
    /// unset or `socket`); over TCP (`tcp`), the server's address and the agent's Workload API
    /// socket, the operator binary being registered as an admin workload of the agent.
    pub fn transport_config(&self) -> String {
        match std::env::var("SPIRE_STEWARD_TEST_TRANSPORT").as_deref() {
            Err(_) | Ok("" | "socket") => String::new(),
            Ok("tcp") => {
                self.register_suite_admin();
                format!(
                    "spireServerAddress: {}\nspireAgentSocketPath: {}\n",
                    self.var("SPIRE_SERVER_ADDRESS"),
                    self.var("SPIRE_AGENT_SOCKET")
                )
            }
            Ok(other) => panic!("SPIRE_STEWARD_TEST_TRANSPORT={other:?}: expected socket or tcp"),
        }
    }

    /// Registers the suite's operator binary (by its path, `unix:path`) as an admin workload of
    /// the testbed's agent, once per test binary; an entry left by an earlier run is kept.
    fn register_suite_admin(&self) {
        static DONE: OnceLock<()> = OnceLock::new();
        DONE.get_or_init(|| {
            let binary = std::path::Path::new(env!("CARGO_BIN_EXE_spire-steward"));
            let digest = binary
                .display()
                .to_string()
                .bytes()
                .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
            let td = self.trust_domain();
            let mut entry = spire_steward::spiffe::Entry::new(
                spire_steward::spiffe::SpiffeId::parse(&format!("spiffe://{td}/steward-suite/{digest:016x}")).unwrap(),
                spire_steward::spiffe::SpiffeId::parse(self.var("SPIRE_AGENT_ID")).unwrap(),
                vec![spire_steward::spiffe::Selector::parse(&format!("unix:path:{}", binary.display())).unwrap()],
            );
            entry.id = Some(spire_steward::spiffe::EntryId::parse(&format!("steward-suite-{digest:016x}")).unwrap());
            entry.admin = true;
            // Called from synchronous set-up inside a test's runtime: a runtime of its own, and a
            // client made in it (a client's connection runs on the runtime it was made in).
            let outcome = std::thread::scope(|scope| {
                scope
                    .spawn(|| {
                        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
                        runtime.block_on(async { self.spire().batch_create_entries(&[entry]).await })
                    })
                    .join()
                    .unwrap()
            })
            .expect("registering the suite's operator as an admin workload");
            match &outcome[0] {
                spire_steward::spire::CreateOutcome::Created(_)
                | spire_steward::spire::CreateOutcome::AlreadyExists(_) => {}
                spire_steward::spire::CreateOutcome::Failed(e) if e.code == tonic::Code::AlreadyExists => {}
                other => panic!("registering the suite's operator as an admin workload: {other:?}"),
            }
        });
    }

    /// A client of the testbed's spire-server with the default deadline.
    pub fn spire(&self) -> SpireClient {
        SpireClient::new(ClientConfig::new(self.spire_socket()))
    }

    /// A Kubernetes client with the admin identity.
    pub async fn kube_admin(&self) -> kube::Client {
        kube_client(Path::new(self.var("KUBECONFIG_ADMIN"))).await
    }

    /// A Kubernetes client with the operator's own, unprivileged identity.
    pub async fn kube_operator(&self) -> kube::Client {
        kube_client(Path::new(self.var("KUBECONFIG_OPERATOR"))).await
    }
}

async fn kube_client(kubeconfig: &Path) -> kube::Client {
    let kubeconfig = Kubeconfig::read_from(kubeconfig).expect("reading kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .expect("loading kubeconfig");
    kube::Client::try_from(config).expect("building kube client")
}

pub fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The testbed, started on first use.
pub fn testbed() -> &'static Testbed {
    static TESTBED: OnceLock<Testbed> = OnceLock::new();
    TESTBED.get_or_init(|| {
        let env_file = repo_root().join("target/testbed/env");
        let env = match read_env(&env_file) {
            Some(env) if is_running(&env) => env,
            _ => {
                start_testbed();
                read_env(&env_file).expect("the testbed wrote no env file")
            }
        };
        let testbed = Testbed { env };
        announce(&testbed);
        testbed
    })
}

fn start_testbed() {
    let status = Command::new(repo_root().join("hack/testbed/up.sh"))
        .env("TESTBED_OWNER_PID", std::process::id().to_string())
        .status()
        .expect("running hack/testbed/up.sh");
    assert!(status.success(), "hack/testbed/up.sh failed");
}

fn read_env(path: &Path) -> Option<HashMap<String, String>> {
    let text = std::fs::read_to_string(path).ok()?;
    let env = text
        .lines()
        .filter_map(|line| line.trim().strip_prefix("export ").or(Some(line.trim())))
        .filter_map(|line| line.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.trim_matches(|c| c == '"' || c == '\'').to_owned()))
        .collect();
    Some(env)
}

fn is_running(env: &HashMap<String, String>) -> bool {
    ["ETCD_PID", "KUBE_APISERVER_PID", "SPIRE_SERVER_PID"]
        .iter()
        .all(|key| env.get(*key).is_some_and(|pid| Path::new(&format!("/proc/{pid}")).exists()))
}

/// Prints the versions of the servers the tests run against. The line goes straight to the
/// process's stderr so the test harness does not swallow it.
fn announce(testbed: &Testbed) {
    let spire = Command::new(testbed.var("SPIRE_SERVER_BIN"))
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(if o.stdout.is_empty() { &o.stderr } else { &o.stdout }).trim().to_owned())
        .unwrap_or_else(|e| format!("unknown ({e})"));
    let kube = Command::new(testbed.var("KUBECTL_BIN"))
        .args(["--kubeconfig", testbed.var("KUBECONFIG_ADMIN"), "version", "-o", "json"])
        .output()
        .ok()
        .and_then(|o| serde_json::from_slice::<serde_json::Value>(&o.stdout).ok())
        .and_then(|v| v["serverVersion"]["gitVersion"].as_str().map(str::to_owned))
        .unwrap_or_else(|| "unknown".into());
    let line = format!(
        "testbed: kube-apiserver {kube}, etcd {}, spire-server {spire} (trust domain {})\n",
        testbed.var("ETCD_VERSION"),
        testbed.trust_domain()
    );
    let _ = std::io::stderr().write_all(line.as_bytes());
}

/// A name no other test run uses, for objects and SPIFFE ID paths.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
}

/// Polls `check` until it returns Some or `timeout` passes.
pub async fn eventually<T, F, Fut>(timeout: Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return Some(value);
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Installs (or updates) every CRD by server-side apply and waits until each is Established.
pub async fn install_crds(client: &kube::Client) {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    use kube::api::{Api, Patch, PatchParams};

    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let params = PatchParams::apply("spire-steward-tests").force();
    for crd in spire_steward::api::v1alpha1::crds() {
        let name = crd.metadata.name.clone().unwrap();
        crds.patch(&name, &params, &Patch::Apply(&crd)).await.expect("applying CRD");
        let established = eventually(Duration::from_secs(30), || {
            let crds = crds.clone();
            let name = name.clone();
            async move {
                let crd = crds.get(&name).await.ok()?;
                let conditions = crd.status?.conditions?;
                conditions.iter().any(|c| c.type_ == "Established" && c.status == "True").then_some(())
            }
        })
        .await;
        assert!(established.is_some(), "CRD {name} did not become Established");
    }
}

/// A spire-server of a test's own, started by `hack/testbed/spire-server.sh` and removed with
/// its state when dropped, even when the test fails.
pub struct PrivateSpireServer {
    pub dir: PathBuf,
    spire_server_bin: String,
}

impl PrivateSpireServer {
    pub fn start(testbed: &Testbed) -> Self {
        let server = Self::not_started(testbed);
        server.run("start");
        server
    }

    /// A server whose directory is chosen but which is not running yet.
    pub fn not_started(testbed: &Testbed) -> Self {
        Self {
            dir: PathBuf::from(format!("/tmp/ss-{}", &unique("x")[2..10])),
            spire_server_bin: testbed.var("SPIRE_SERVER_BIN").to_owned(),
        }
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.join("api.sock")
    }

    pub fn pid(&self) -> String {
        std::fs::read_to_string(self.dir.join("pid")).expect("reading the server's pid").trim().to_owned()
    }

    /// Runs `spire-server.sh <action> DIR`: start, stop or clean.
    pub fn run(&self, action: &str) {
        let status = Command::new(repo_root().join("hack/testbed/spire-server.sh"))
            .args([action, self.dir.to_str().unwrap()])
            .env("SPIRE_SERVER_BIN", &self.spire_server_bin)
            .status()
            .expect("running hack/testbed/spire-server.sh");
        assert!(status.success(), "spire-server.sh {action} failed");
    }
}

impl Drop for PrivateSpireServer {
    fn drop(&mut self) {
        // Resume a server a test may have paused, then remove it.
        if let Ok(pid) = std::fs::read_to_string(self.dir.join("pid")) {
            let _ = Command::new("kill").args(["-CONT", pid.trim()]).status();
        }
        let _ = Command::new(repo_root().join("hack/testbed/spire-server.sh"))
            .args(["clean", self.dir.to_str().unwrap()])
            .env("SPIRE_SERVER_BIN", &self.spire_server_bin)
            .status();
    }
}

/// The helm binary, built on first use (or found in the cache) by `hack/tools/build-helm.sh`.
pub fn helm_bin() -> &'static Path {
    static HELM: OnceLock<PathBuf> = OnceLock::new();
    HELM.get_or_init(|| {
        let out = Command::new(repo_root().join("hack/tools/build-helm.sh"))
            .stderr(std::process::Stdio::inherit())
            .output()
            .expect("running hack/tools/build-helm.sh");
        assert!(out.status.success(), "hack/tools/build-helm.sh failed");
        let path = PathBuf::from(String::from_utf8(out.stdout).unwrap().trim());
        assert!(path.is_file(), "build-helm.sh printed {path:?}, not a file");
        path
    })
}

/// A helm command that runs in the repository with its own, empty configuration and cache, and
/// no kubeconfig: rendering and linting never talk to a cluster.
pub fn helm(args: &[&str]) -> Command {
    let home = repo_root().join("target/helm-home");
    let mut cmd = Command::new(helm_bin());
    cmd.current_dir(repo_root())
        .args(args)
        .env("HELM_CONFIG_HOME", home.join("config"))
        .env("HELM_CACHE_HOME", home.join("cache"))
        .env("HELM_DATA_HOME", home.join("data"))
        .env("KUBECONFIG", "/dev/null");
    cmd
}

/// Creates, straight through SPIRE's API, a federation relationship (with a bundle: the
/// server's own CA standing in for the foreign one) for a trust domain name longer than the
/// operator's types accept; SPIRE sets no length limit. Returns the name.
pub async fn overlong_trust_domain(spire: &SpireClient) -> String {
    use spire_steward::spire::proto::{
        trustdomain as td_rpc, trustdomain::trust_domain_client::TrustDomainClient, types,
    };
    let long = format!("{}.{}.{}", "l".repeat(150), "o".repeat(150), unique("long"));
    let own = spire.get_bundle().await.unwrap();
    let relationship = types::FederationRelationship {
        trust_domain: long.clone(),
        bundle_endpoint_url: "https://127.0.0.1:1/bundle".into(),
        bundle_endpoint_profile: Some(types::federation_relationship::BundleEndpointProfile::HttpsWeb(
            types::HttpsWebProfile {},
        )),
        trust_domain_bundle: Some(types::Bundle {
            trust_domain: long.clone(),
            x509_authorities: own
                .x509_authorities
                .iter()
                .map(|der| types::X509Certificate { asn1: der.clone(), tainted: false })
                .collect(),
            ..Default::default()
        }),
    };
    let request = td_rpc::BatchCreateFederationRelationshipRequest {
        federation_relationship: vec![relationship],
        output_mask: None,
    };
    let result = TrustDomainClient::new(spire.channel()).batch_create_federation_relationship(request).await.unwrap();
    let status = result.into_inner().results[0].status.clone().unwrap();
    assert_eq!(status.code, 0, "SPIRE accepts the long trust domain: {}", status.message);
    long
}
