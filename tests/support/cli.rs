//! Running the built binary's read-only subcommands (`plan`, `report`) against the testbed with
//! a configuration matching the test's operator, and installing the OpenReports CRDs.

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::{
    Api,
    api::{Patch, PatchParams},
};

use super::{Testbed, eventually, operator::World, repo_root};

/// What one run printed and how it ended.
#[derive(Debug)]
pub struct Ran {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {self:?}"))
    }
}

/// The subcommands, configured as the test's operator is.
pub struct Cli {
    pub config: PathBuf,
    kubeconfig: String,
}

impl Cli {
    /// Writes a configuration with the world's class, entry ID prefix, Lease and the SPIRE
    /// socket, as `Operator::start` does.
    pub fn new(testbed: &Testbed, world: &World, socket: &Path) -> Self {
        Self::with_config(testbed, world, socket, "")
    }

    /// [`Cli::new`], with `extra` configuration lines (the operator's own, say).
    pub fn with_config(testbed: &Testbed, world: &World, socket: &Path, extra: &str) -> Self {
        let dir = repo_root().join("target/cli-tests");
        std::fs::create_dir_all(&dir).unwrap();
        // One file per configuration, so that two commands of one test keep their own.
        let config = match extra {
            "" => dir.join(format!("{}.yaml", world.id)),
            _ => {
                use std::hash::{Hash, Hasher};
                let mut hasher = std::collections::hash_map::DefaultHasher::new();
                extra.hash(&mut hasher);
                dir.join(format!("{}-{:016x}.yaml", world.id, hasher.finish()))
            }
        };
        std::fs::write(
            &config,
            format!(
                "apiVersion: spire-steward.io/v1alpha1\nkind: OperatorConfig\ntrustDomain: {}\nclusterName: test\n\
                 className: {}\nentryIDPrefix: {}\nspireServerSocketPath: {}\nspireCallTimeout: 2s\n\
                 leaderElection: {{resourceName: {}, resourceNamespace: {}}}\n{}{extra}",
                testbed.trust_domain(),
                world.class,
                world.prefix,
                socket.display(),
                world.lease(),
                world.namespace,
                if socket == testbed.spire_socket() { testbed.transport_config() } else { String::new() },
            ),
        )
        .unwrap();
        Self { config, kubeconfig: testbed.var("KUBECONFIG_ADMIN").to_owned() }
    }

    /// Runs `spire-steward <subcommand> --config <config> <args>`.
    pub fn run(&self, subcommand: &str, args: &[&str]) -> Ran {
        let out = Command::new(env!("CARGO_BIN_EXE_spire-steward"))
            .arg(subcommand)
            .arg("--config")
            .arg(&self.config)
            .args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .env("NO_COLOR", "1")
            .output()
            .expect("running spire-steward");
        Ran {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8(out.stdout).unwrap(),
            stderr: String::from_utf8(out.stderr).unwrap(),
        }
    }

    /// A manifest file of this test, with `text` in it.
    pub fn manifest(&self, name: &str, text: &str) -> PathBuf {
        let path = self.config.with_extension("").join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        path
    }
}

/// The OpenReports CRDs of the pinned version, fetched once by `hack/tools/fetch-openreports.sh`,
/// installed and Established.
pub async fn install_openreports(client: &kube::Client) {
    let out = Command::new(repo_root().join("hack/tools/fetch-openreports.sh"))
        .stderr(std::process::Stdio::inherit())
        .output()
        .expect("running hack/tools/fetch-openreports.sh");
    assert!(out.status.success(), "fetch-openreports.sh failed");
    let dir = PathBuf::from(String::from_utf8(out.stdout).unwrap().trim());
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for file in ["openreports.io_clusterreports.yaml", "openreports.io_reports.yaml"] {
        let text = std::fs::read_to_string(dir.join(file)).unwrap();
        let crd: CustomResourceDefinition = serde_yaml_ng::from_str(&text).unwrap();
        let name = crd.metadata.name.clone().unwrap();
        crds.patch(&name, &PatchParams::apply("spire-steward-tests").force(), &Patch::Apply(&crd)).await.unwrap();
        let established = eventually(Duration::from_secs(30), || {
            let crds = crds.clone();
            let name = name.clone();
            async move {
                let conditions = crds.get(&name).await.ok()?.status?.conditions?;
                conditions.iter().any(|c| c.type_ == "Established" && c.status == "True").then_some(())
            }
        })
        .await;
        assert!(established.is_some(), "CRD {name} did not become Established");
    }
}

/// The world plan and report are tried on: pods `p-1` (app=web) and `p-2` (app=db) on one node;
/// ClusterSPIFFEID `web` (`/web/<pod>`, 2h requested, with an owner) for p-1 and `legacy`
/// (`/legacy/<pod>`) for p-2; a ClusterStaticEntry `static`; an IdentityPolicy `pol` of the
/// namespace allowing `/web/**` with an x509 maximum of 1h; and an IdentityException `exc` that
/// lets `legacy` keep its name for ten days.
pub struct Known {
    pub world: World,
    pub web: String,
    pub legacy: String,
    pub static_entry: String,
    pub policy: String,
    pub exception: String,
    pub static_path: String,
}

impl Known {
    pub async fn build(testbed: &Testbed) -> Self {
        use serde_json::json;
        let mut world = World::new(testbed).await;
        world.node("node").await;
        let known = Self {
            web: world.identity_name("web"),
            legacy: world.identity_name("legacy"),
            static_entry: world.identity_name("static"),
            policy: world.identity_name("pol"),
            exception: world.identity_name("exc"),
            static_path: format!("/static/{}", world.id),
            world,
        };
        let world = &known.world;
        world
            .apply(
                "ClusterSPIFFEID",
                &known.web,
                json!({
                    "className": world.class,
                    "spiffeIDTemplate": "spiffe://{{ .TrustDomain }}/web/{{ .PodMeta.Name }}",
                    "namespaceSelector": world.namespace_selector(),
                    "podSelector": { "matchLabels": { "app": "web" } },
                    "ttl": "2h",
                    "owner": { "team": "payments", "contact": "#payments-oncall" },
                }),
            )
            .await;
        world
            .apply(
                "ClusterSPIFFEID",
                &known.legacy,
                json!({
                    "className": world.class,
                    "spiffeIDTemplate": "spiffe://{{ .TrustDomain }}/legacy/{{ .PodMeta.Name }}",
                    "namespaceSelector": world.namespace_selector(),
                    "podSelector": { "matchLabels": { "app": "db" } },
                }),
            )
            .await;
        world
            .apply(
                "ClusterStaticEntry",
                &known.static_entry,
                json!({
                    "className": world.class,
                    "spiffeID": format!("spiffe://{}{}", testbed.trust_domain(), known.static_path),
                    "parentID": format!("spiffe://{}/spire/agent/x509pop/vm-1", testbed.trust_domain()),
                    "selectors": ["unix:uid:1001"],
                }),
            )
            .await;
        world
            .apply(
                "IdentityPolicy",
                &known.policy,
                json!({
                    "className": world.class,
                    "match": { "namespaceSelector": world.namespace_selector() },
                    "spiffeIDs": { "allow": ["/web/**"] },
                    "ttl": { "x509": { "max": "1h" } },
                }),
            )
            .await;
        let expires = k8s_openapi::jiff::Timestamp::now()
            .checked_add(k8s_openapi::jiff::SignedDuration::from_hours(240))
            .unwrap()
            .round(k8s_openapi::jiff::Unit::Second)
            .unwrap();
        world
            .apply(
                "IdentityException",
                &known.exception,
                json!({
                    "className": world.class,
                    "target": { "kind": "ClusterSPIFFEID", "name": known.legacy },
                    "relaxations": { "extraAllow": ["/legacy/**"] },
                    "expiresAt": expires.to_string(),
                    "owner": "team-billing",
                    "justification": "the legacy workers keep their old names until the migration",
                    "ticket": "BILL-1234",
                }),
            )
            .await;
        world.pod("p-1", &[("app", "web")], Some("node")).await;
        world.pod("p-2", &[("app", "db")], Some("node")).await;
        known
    }

    /// The SPIFFE IDs of the converged world, with their x509 TTLs.
    pub fn converged(&self, testbed: &Testbed) -> Vec<(String, i32)> {
        let td = testbed.trust_domain();
        let mut want = vec![
            (format!("spiffe://{td}/legacy/p-2"), 3600),
            (format!("spiffe://{td}{}", self.static_path), 0),
            (format!("spiffe://{td}/web/p-1"), 3600),
        ];
        want.sort();
        want
    }

    /// Removes the test's resources.
    pub async fn clean_up(&self) {
        for (kind, name) in [
            ("IdentityException", &self.exception),
            ("IdentityPolicy", &self.policy),
            ("ClusterStaticEntry", &self.static_entry),
            ("ClusterSPIFFEID", &self.web),
            ("ClusterSPIFFEID", &self.legacy),
        ] {
            let _ = super::operator::dynamic(&self.world.client, kind).delete(name, &Default::default()).await;
        }
        self.world.clean_up().await;
    }
}

/// Waits until SPIRE holds exactly `want` (SPIFFE ID, x509 TTL) under the world's prefix.
pub async fn wait_converged(
    testbed: &Testbed,
    world: &World,
    operator: &super::operator::Operator,
    want: &[(String, i32)],
) {
    let now = || async {
        let mut got: Vec<(String, i32)> = super::operator::entries(&testbed.spire(), &world.prefix)
            .await
            .into_iter()
            .map(|e| (e.spiffe_id.to_string(), e.x509_svid_ttl))
            .collect();
        got.sort();
        got
    };
    let found = eventually(Duration::from_secs(30), || async { (now().await == want).then_some(()) }).await;
    assert!(found.is_some(), "entries {:?}, want {want:?}\nlog:\n{}", now().await, operator.log_text());
}
