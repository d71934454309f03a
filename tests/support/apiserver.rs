//! A kube-apiserver of a test's own on the testbed's etcd: it serves the same objects as the
//! shared one, so a test can stop and start it under an operator while changes go on through
//! the shared server, or compact etcd meanwhile, without disturbing other tests.

use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use super::{Testbed, repo_root, unique};

/// The private API server; stopped and its files removed when dropped.
pub struct PrivateApiServer {
    port: u16,
    dir: PathBuf,
    flags: Vec<String>,
    child: Option<Child>,
    bin: String,
    etcd: String,
    state: String,
    issuer: String,
    ca: String,
    token: String,
    /// A kubeconfig for the operator's identity that points at this server.
    pub kubeconfig: PathBuf,
}

impl PrivateApiServer {
    /// Starts the server with the testbed's own settings plus `flags`, and waits until it serves.
    pub fn start(testbed: &Testbed, flags: &[&str]) -> Self {
        let dir = repo_root().join("target/operator-tests").join(unique("apiserver"));
        std::fs::create_dir_all(dir.join("certs")).unwrap();
        let port = super::operator::free_port();
        let kubeconfig = dir.join("operator.kubeconfig");
        let shared = std::fs::read_to_string(testbed.var("KUBECONFIG_OPERATOR")).unwrap();
        let url = testbed.var("KUBE_APISERVER_URL");
        std::fs::write(&kubeconfig, shared.replace(url, &format!("https://127.0.0.1:{port}"))).unwrap();
        let mut server = Self {
            port,
            dir,
            flags: flags.iter().map(|f| f.to_string()).collect(),
            child: None,
            bin: testbed.var("KUBE_APISERVER_BIN").to_owned(),
            etcd: testbed.var("ETCD_URL").to_owned(),
            state: testbed.var("TESTBED_DIR").to_owned(),
            issuer: url.to_owned(),
            ca: testbed.var("KUBE_CA_FILE").to_owned(),
            token: testbed.var("KUBE_ADMIN_TOKEN").to_owned(),
            kubeconfig,
        };
        server.resume();
        server
    }

    /// Starts the server again on the same port after [`PrivateApiServer::stop`].
    pub fn resume(&mut self) {
        assert!(self.child.is_none(), "the private API server is already running");
        let pki = format!("{}/pki", self.state);
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.dir.join("log")).unwrap();
        let child = Command::new(&self.bin)
            .args([
                format!("--etcd-servers={}", self.etcd),
                "--bind-address=127.0.0.1".into(),
                format!("--secure-port={}", self.port),
                "--advertise-address=127.0.0.1".into(),
                "--endpoint-reconciler-type=none".into(),
                format!("--cert-dir={}", self.dir.join("certs").display()),
                format!("--tls-cert-file={pki}/apiserver.crt"),
                format!("--tls-private-key-file={pki}/apiserver.key"),
                format!("--service-account-issuer={}", self.issuer),
                format!("--service-account-key-file={pki}/sa.pub"),
                format!("--service-account-signing-key-file={pki}/sa.key"),
                "--service-cluster-ip-range=10.0.0.0/24".into(),
                "--authorization-mode=RBAC".into(),
                format!("--token-auth-file={}/kube/tokens.csv", self.state),
                "--disable-admission-plugins=ServiceAccount".into(),
                "--allow-privileged=true".into(),
                "--profiling=false".into(),
            ])
            .args(&self.flags)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("starting kube-apiserver");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(90);
        while !self.ready() {
            let exited = self.child.as_mut().unwrap().try_wait().ok().flatten();
            assert!(
                exited.is_none() && Instant::now() < deadline,
                "the private kube-apiserver did not start:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn ready(&self) -> bool {
        Command::new("curl")
            .args(["-fsS", "--max-time", "2", "--cacert", &self.ca])
            .args(["-H", &format!("Authorization: Bearer {}", self.token)])
            .arg(format!("https://127.0.0.1:{}/readyz", self.port))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Stops the server (SIGTERM, as a rollout would) and waits until it has exited.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while child.try_wait().ok().flatten().is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("log")).unwrap_or_default()
    }

    /// Compacts the testbed's etcd up to its current revision, so a watch that resumes from an
    /// older resource version is told it expired.
    pub fn compact_etcd(&self) {
        let post = |path: &str, body: &str| -> serde_json::Value {
            let out = Command::new("curl")
                .args(["-fsS", "--max-time", "10", "-X", "POST", "-d", body])
                .arg(format!("{}{path}", self.etcd))
                .output()
                .expect("running curl");
            assert!(out.status.success(), "etcd {path}: {}", String::from_utf8_lossy(&out.stderr));
            serde_json::from_slice(&out.stdout).unwrap()
        };
        // A range over one key answers with the store's current revision in its header.
        let revision = post("/v3/kv/range", r#"{"key":"AA=="}"#)["header"]["revision"].as_str().unwrap().to_owned();
        post("/v3/kv/compaction", &format!(r#"{{"revision":"{revision}","physical":true}}"#));
    }
}

impl Drop for PrivateApiServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
