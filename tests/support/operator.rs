//! Running the real operator binary against the testbed, one instance per test, and the objects
//! a test needs: a namespace, nodes and pods of its own.

use std::{
    collections::BTreeMap,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};

use k8s_openapi::api::core::v1::{Namespace, Node, Pod};
use kube::{
    Api, Client,
    api::{DeleteParams, Patch, PatchParams, PostParams},
};
use serde_json::json;
use spire_steward::{
    spiffe::Entry,
    spire::{LIST_PAGE_SIZE, SpireClient},
};

use super::{Testbed, repo_root, unique};

/// One test's world: its operator class, entry ID prefix, namespace and nodes.
pub struct World {
    pub id: String,
    pub class: String,
    pub prefix: String,
    pub namespace: String,
    pub client: Client,
    nodes: Vec<String>,
    applied: std::sync::Mutex<Vec<(String, String)>>,
    rbac: std::sync::Mutex<Vec<(String, String)>>,
}

impl World {
    /// Creates the test's namespace, labelled so the test's identities can select it.
    pub async fn new(testbed: &Testbed) -> Self {
        let id = unique("t");
        let client = testbed.kube_admin().await;
        super::install_crds(&client).await;
        let world = Self {
            class: format!("class-{id}"),
            prefix: id.replace('-', "_"),
            namespace: format!("ns-{id}"),
            id,
            client,
            nodes: Vec::new(),
            applied: Default::default(),
            rbac: Default::default(),
        };
        let ns: Namespace = serde_json::from_value(json!({
            "metadata": { "name": world.namespace, "labels": { "spire-steward-test": world.id } }
        }))
        .unwrap();
        Api::<Namespace>::all(world.client.clone()).create(&PostParams::default(), &ns).await.unwrap();
        world.bind_operator_rbac(testbed).await;
        world
    }

    /// A world with a node, the plain pod identity (named `<name>-<id>`) and one pod `p-1` on the
    /// node: the starting point of most operator tests.
    pub async fn with_one_pod(testbed: &Testbed, name: &str) -> Self {
        let mut world = Self::new(testbed).await;
        world.node("node").await;
        world.apply("ClusterSPIFFEID", &world.identity_name(name), world.pod_identity_spec()).await;
        world.pod("p-1", &[], Some("node")).await;
        world
    }

    /// The operator binary under a path of this world's own (a hard link, or a copy on another
    /// file system), so that the testbed's agent tells it apart by path (`unix:path`).
    pub fn own_binary(&self, purpose: &str) -> PathBuf {
        let dir = repo_root().join("target/operator-tests").join(format!("{}-{purpose}", self.id));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("spire-steward");
        let _ = std::fs::remove_file(&path);
        if std::fs::hard_link(env!("CARGO_BIN_EXE_spire-steward"), &path).is_err() {
            std::fs::copy(env!("CARGO_BIN_EXE_spire-steward"), &path).unwrap();
        }
        path
    }

    /// The full name of one of this test's resources.
    pub fn identity_name(&self, name: &str) -> String {
        format!("{name}-{}", self.id)
    }

    /// The Lease the test's operators elect their leader on.
    pub fn lease(&self) -> String {
        format!("lease-{}", self.id)
    }

    /// Grants the testbed's unprivileged operator identity exactly the chart's RBAC: its
    /// ClusterRole, and its leader-election Role in this test's namespace.
    async fn bind_operator_rbac(&self, testbed: &Testbed) {
        let out = super::helm(&[
            "template",
            &self.id,
            "charts/spire-steward",
            "--namespace",
            &self.namespace,
            "--show-only",
            "templates/clusterrole.yaml",
            "--show-only",
            "templates/leader-election-rbac.yaml",
            "--show-only",
            "templates/state-rbac.yaml",
            "--set",
            "config.trustDomain=example.org",
            "--set",
            "config.clusterName=test",
            "--set",
            &format!("config.leaderElection.resourceName={}", self.lease()),
            // Tests keep OpenReports current too.
            "--set",
            "config.openReports.enabled=true",
        ])
        .output()
        .expect("running helm template");
        assert!(out.status.success(), "helm template: {}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8(out.stdout).unwrap();
        let user = json!([{ "kind": "User", "name": testbed.var("KUBE_OPERATOR_USER"), "apiGroup": "rbac.authorization.k8s.io" }]);
        for doc in text.split("\n---").filter(|d| d.contains("kind:")) {
            let mut object: serde_json::Value = serde_yaml_ng::from_str(doc).unwrap();
            let kind = object["kind"].as_str().unwrap().to_owned();
            if kind.ends_with("Binding") {
                object["subjects"] = user.clone();
            }
            let name = object["metadata"]["name"].as_str().unwrap().to_owned();
            let namespace = object["metadata"]["namespace"].as_str().map(str::to_owned);
            let gvk = kube::core::GroupVersionKind::gvk("rbac.authorization.k8s.io", "v1", &kind);
            let resource = kube::core::ApiResource::from_gvk(&gvk);
            let api: Api<kube::api::DynamicObject> = match &namespace {
                Some(ns) => Api::namespaced_with(self.client.clone(), ns, &resource),
                None => Api::all_with(self.client.clone(), &resource),
            };
            api.patch(&name, &PatchParams::apply("spire-steward-tests").force(), &Patch::Apply(&object)).await.unwrap();
            if namespace.is_none() {
                self.rbac.lock().unwrap().push((kind, name));
            }
        }
        // Wait until the authorizer has the new rules.
        let operator = testbed.kube_operator().await;
        let granted = super::eventually(Duration::from_secs(30), || {
            let pods: Api<Pod> = Api::all(operator.clone());
            async move { pods.list(&kube::api::ListParams::default().limit(1)).await.ok().map(|_| ()) }
        })
        .await;
        assert!(granted.is_some(), "the operator identity never got the chart's permissions");
    }

    /// The plainest ClusterSPIFFEID of this test: `spiffe://<td>/pod/<pod name>` for every pod of
    /// its namespace.
    pub fn pod_identity_spec(&self) -> serde_json::Value {
        json!({
            "className": self.class,
            "spiffeIDTemplate": "spiffe://{{ .TrustDomain }}/pod/{{ .PodMeta.Name }}",
            "namespaceSelector": self.namespace_selector(),
        })
    }

    /// The namespace selector that picks this test's namespace.
    pub fn namespace_selector(&self) -> serde_json::Value {
        json!({ "matchLabels": { "spire-steward-test": self.id } })
    }

    /// Creates a node and returns its UID.
    pub async fn node(&mut self, name: &str) -> String {
        let name = format!("{name}-{}", self.id);
        let node: Node = serde_json::from_value(json!({ "metadata": { "name": name } })).unwrap();
        let created = Api::<Node>::all(self.client.clone()).create(&PostParams::default(), &node).await.unwrap();
        self.nodes.push(name);
        created.metadata.uid.unwrap()
    }

    pub fn node_name(&self, name: &str) -> String {
        format!("{name}-{}", self.id)
    }

    /// Creates a pod on a node (or unscheduled) and returns its UID.
    pub async fn pod(&self, name: &str, labels: &[(&str, &str)], node: Option<&str>) -> String {
        let labels: BTreeMap<&str, &str> = labels.iter().copied().collect();
        let mut spec =
            json!({ "containers": [{ "name": "app", "image": "registry.invalid/app" }], "serviceAccountName": "app" });
        if let Some(node) = node {
            spec["nodeName"] = json!(self.node_name(node));
        }
        let pod: Pod = serde_json::from_value(json!({
            "metadata": { "name": name, "namespace": self.namespace, "labels": labels },
            "spec": spec,
        }))
        .unwrap();
        let created = self.pods().create(&PostParams::default(), &pod).await.unwrap();
        created.metadata.uid.unwrap()
    }

    pub fn pods(&self) -> Api<Pod> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    /// Replaces a pod's labels.
    pub async fn relabel(&self, name: &str, labels: &[(&str, &str)]) {
        let labels: BTreeMap<&str, &str> = labels.iter().copied().collect();
        let patch = json!({ "metadata": { "labels": serde_json::Value::Null } });
        self.pods().patch(name, &PatchParams::default(), &Patch::Merge(&patch)).await.unwrap();
        let patch = json!({ "metadata": { "labels": labels } });
        self.pods().patch(name, &PatchParams::default(), &Patch::Merge(&patch)).await.unwrap();
    }

    /// Applies a resource of this test by server-side apply.
    pub async fn apply(&self, kind: &str, name: &str, spec: serde_json::Value) {
        let api = dynamic(&self.client, kind);
        let body = json!({
            "apiVersion": "spire-steward.io/v1alpha1",
            "kind": kind,
            "metadata": { "name": name },
            "spec": spec,
        });
        api.patch(name, &PatchParams::apply("spire-steward-tests").force(), &Patch::Apply(&body)).await.unwrap();
    }

    pub async fn delete(&self, kind: &str, name: &str) {
        dynamic(&self.client, kind).delete(name, &DeleteParams::default()).await.unwrap();
    }

    /// The status of a resource of this test, if any.
    pub async fn status(&self, kind: &str, name: &str) -> serde_json::Value {
        let object = dynamic(&self.client, kind).get(name).await.unwrap();
        object.data.get("status").cloned().unwrap_or(serde_json::Value::Null)
    }

    /// The condition `type_` of a resource: (status, reason, message).
    pub async fn condition(&self, kind: &str, name: &str, type_: &str) -> Option<(String, String, String)> {
        let status = self.status(kind, name).await;
        status["conditions"].as_array()?.iter().find(|c| c["type"] == type_).map(|c| {
            (
                c["status"].as_str().unwrap_or_default().to_owned(),
                c["reason"].as_str().unwrap_or_default().to_owned(),
                c["message"].as_str().unwrap_or_default().to_owned(),
            )
        })
    }

    /// Waits until the resource's Ready condition has `want` (status, reason); its message.
    pub async fn wait_ready(&self, operator: &Operator, kind: &str, name: &str, want: (&str, &str)) -> String {
        let found = super::eventually(Duration::from_secs(30), || async {
            let c = self.condition(kind, name, "Ready").await?;
            (c.0 == want.0 && c.1 == want.1).then_some(c.2)
        })
        .await;
        match found {
            Some(message) => message,
            None => panic!(
                "{kind} {name} never reached Ready={want:?}; status: {}\nlog:\n{}",
                self.status(kind, name).await,
                operator.log_text()
            ),
        }
    }

    /// The (type, reason) of every Event about objects named `name`.
    pub async fn events_about(&self, name: &str) -> Vec<(String, String)> {
        let events: Api<k8s_openapi::api::events::v1::Event> = Api::all(self.client.clone());
        let list = events.list(&Default::default()).await.unwrap();
        list.items
            .into_iter()
            .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
            .map(|e| (e.type_.unwrap_or_default(), e.reason.unwrap_or_default()))
            .collect()
    }

    /// Waits up to 30 s for an Event `want` (type, reason) about `name`.
    pub async fn wait_event(&self, operator: &Operator, name: &str, want: (&str, &str)) {
        self.wait_event_within(operator, name, want, Duration::from_secs(30)).await;
    }

    /// Waits up to `timeout` for an Event `want` (type, reason) about `name`.
    pub async fn wait_event_within(&self, operator: &Operator, name: &str, want: (&str, &str), timeout: Duration) {
        let found = super::eventually(timeout, || async {
            self.events_about(name).await.iter().any(|(t, r)| t == want.0 && r == want.1).then_some(())
        })
        .await;
        assert!(
            found.is_some(),
            "no {want:?} Event about {name}; saw {:?}\nlog:\n{}",
            self.events_about(name).await,
            operator.log_text()
        );
    }

    /// Removes the test's cluster-scoped objects. The namespace is left: without a controller
    /// manager it would stay Terminating anyway, and its name is unique.
    pub async fn clean_up(&self) {
        let applied = std::mem::take(&mut *self.applied.lock().unwrap());
        for (kind, name) in applied {
            let _ = dynamic(&self.client, &kind).delete(&name, &DeleteParams::default()).await;
        }
        let rbac = std::mem::take(&mut *self.rbac.lock().unwrap());
        for (kind, name) in rbac {
            let gvk = kube::core::GroupVersionKind::gvk("rbac.authorization.k8s.io", "v1", &kind);
            let api: Api<kube::api::DynamicObject> =
                Api::all_with(self.client.clone(), &kube::core::ApiResource::from_gvk(&gvk));
            let _ = api.delete(&name, &DeleteParams::default()).await;
        }
        for node in &self.nodes {
            let _ = Api::<Node>::all(self.client.clone()).delete(node, &DeleteParams::default()).await;
        }
        for pod in self.pods().list(&Default::default()).await.map(|l| l.items).unwrap_or_default() {
            let immediately = DeleteParams { grace_period_seconds: Some(0), ..Default::default() };
            let _ = self.pods().delete(pod.metadata.name.as_deref().unwrap_or_default(), &immediately).await;
        }
    }
}

pub fn dynamic(client: &Client, kind: &str) -> Api<kube::api::DynamicObject> {
    let gvk = kube::core::GroupVersionKind::gvk("spire-steward.io", "v1alpha1", kind);
    Api::all_with(client.clone(), &kube::core::ApiResource::from_gvk(&gvk))
}

/// The sum of the operator's metric lines that start with `prefix` (a name, optionally with
/// labels), or 0 when the endpoint does not answer.
pub async fn metric(port: u16, prefix: &str) -> f64 {
    let (_, body) = http_get(port, "/metrics").await.unwrap_or_default();
    body.lines().filter(|l| l.starts_with(prefix)).filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok()).sum()
}

/// Every entry under an ID prefix that the operator's types can read.
pub async fn entries(spire: &SpireClient, prefix: &str) -> Vec<Entry> {
    let mut entries: Vec<Entry> = spire
        .list_entries_lenient(&Default::default(), LIST_PAGE_SIZE)
        .await
        .unwrap()
        .entries
        .into_iter()
        .filter(|e| e.id.as_ref().is_some_and(|id| id.as_str().starts_with(&format!("{prefix}."))))
        .collect();
    entries.sort_by(|a, b| a.spiffe_id.cmp(&b.spiffe_id));
    entries
}

/// The operator binary, running until dropped.
pub struct Operator {
    child: Child,
    pub log: PathBuf,
}

impl Operator {
    /// Starts the operator for `world`, talking to the SPIRE server at `socket`.
    pub fn start(testbed: &Testbed, world: &World, socket: &std::path::Path, extra_config: &str) -> Self {
        Self::start_replica(testbed, world, socket, extra_config, "0")
    }

    /// Starts one of several replicas of the same operator; `replica` tells their files apart.
    pub fn start_replica(
        testbed: &Testbed,
        world: &World,
        socket: &std::path::Path,
        extra_config: &str,
        replica: &str,
    ) -> Self {
        Self::start_with_kubeconfig(testbed, world, socket, extra_config, replica, testbed.var("KUBECONFIG_OPERATOR"))
    }

    /// Starts the operator with the operator identity's kubeconfig `kubeconfig`, for an
    /// operator that talks to an API server of the test's own.
    pub fn start_with_kubeconfig(
        testbed: &Testbed,
        world: &World,
        socket: &std::path::Path,
        extra_config: &str,
        replica: &str,
        kubeconfig: impl AsRef<std::ffi::OsStr>,
    ) -> Self {
        let config = Self::write_config(testbed, world, socket, extra_config, replica);
        let mut command = Command::new(env!("CARGO_BIN_EXE_spire-steward"));
        command
            .args(["run", "--config", config.to_str().unwrap()])
            // The operator runs as the unprivileged identity, bound to the chart's RBAC only.
            .env("KUBECONFIG", kubeconfig)
            .env("POD_NAME", format!("{}-{replica}", world.id));
        Self::spawn(command, world, replica)
    }

    /// Writes the operator's configuration file for `world` (replica `replica`); its path.
    pub fn write_config(
        testbed: &Testbed,
        world: &World,
        socket: &std::path::Path,
        extra_config: &str,
        replica: &str,
    ) -> PathBuf {
        let dir = repo_root().join("target/operator-tests");
        std::fs::create_dir_all(&dir).unwrap();
        let config = dir.join(format!("{}-{replica}.yaml", world.id));
        std::fs::write(
            &config,
            format!(
                "apiVersion: spire-steward.io/v1alpha1\nkind: OperatorConfig\ntrustDomain: {}\nclusterName: test\n\
                 className: {}\nentryIDPrefix: {}\nspireServerSocketPath: {}\nspireCallTimeout: 2s\n\
                 {}{}{extra_config}",
                testbed.trust_domain(),
                world.class,
                world.prefix,
                socket.display(),
                // The testbed's server is reached the way this run of the suite does; a private
                // server, or a test that chooses, keeps its own.
                if socket == testbed.spire_socket() && !extra_config.contains("spireServerAddress") {
                    testbed.transport_config()
                } else {
                    String::new()
                },
                // Defaults a test may override: a fast periodic check, admin endpoints off, the
                // test's own Lease name and namespace (which the state ConfigMap follows).
                [
                    ("gcInterval:", "gcInterval: 2s\n".to_owned()),
                    ("logLevel:", "logLevel: debug\n".to_owned()),
                    ("metrics:", "metrics: {bindAddress: '0'}\n".to_owned()),
                    ("health:", "health: {healthProbeBindAddress: '0'}\n".to_owned()),
                    (
                        "leaderElection:",
                        format!(
                            "leaderElection: {{resourceName: {}, resourceNamespace: {}}}\n",
                            world.lease(),
                            world.namespace
                        ),
                    ),
                ]
                .iter()
                .filter(|(key, _)| !extra_config.contains(key))
                .map(|(_, line)| line.as_str())
                .collect::<String>(),
            ),
        )
        .unwrap();
        config
    }

    /// Starts `command` (the operator, however it is packaged) with its standard error as the
    /// log of `world`'s replica `replica`.
    pub fn spawn(mut command: Command, world: &World, replica: &str) -> Self {
        let dir = repo_root().join("target/operator-tests");
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join(format!("{}-{replica}.log", world.id));
        let child = command
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("starting spire-steward");
        Self { child, log }
    }

    /// Stops the operator and waits for it to exit.
    pub fn stop(&mut self) {
        if self.child.try_wait().ok().flatten().is_some() {
            return;
        }
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        for _ in 0..50 {
            if self.child.try_wait().ok().flatten().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Kills the operator without letting it clean up, as a crash would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().ok().flatten().is_none()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The operator's log so far, for failure messages.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A free loopback port.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A plain HTTP/1.0 GET on loopback: (status code, body).
pub async fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.ok()?;
    stream.write_all(format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").as_bytes()).await.ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await.ok()?;
    let code = response.split_whitespace().nth(1)?.parse().ok()?;
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    Some((code, body))
}
