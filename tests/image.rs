//! The operator from its OCI image (`make image`, `hack/image.sh`): the image's configuration
//! (non-root user, entrypoint, OCI annotations) and content (a static binary, no shell), and the
//! operator run from it against the testbed, in runc when the machine can run containers, else
//! from the unpacked root filesystem.

mod support;

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use serde_json::{Value, json};
use support::{
    operator::{Operator, World, entries},
    repo_root, testbed, unique,
};

const VERSION: &str = env!("CARGO_PKG_VERSION");

fn archive() -> PathBuf {
    repo_root().join(format!("target/image/spire-steward-{VERSION}.oci.tar"))
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn run(command: &mut Command) -> String {
    let out = command.output().unwrap_or_else(|e| panic!("{command:?}: {e}"));
    assert!(out.status.success(), "{command:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// The image archive unpacked: its OCI layout and a runtime bundle (config.json and rootfs).
struct Unpacked {
    dir: PathBuf,
}

impl Unpacked {
    fn new() -> Self {
        let archive = archive();
        assert!(archive.is_file(), "{} is missing: run `make image` first", archive.display());
        let dir = repo_root().join("target").join(unique("image-test"));
        std::fs::create_dir_all(dir.join("layout")).unwrap();
        run(Command::new("tar").arg("-xf").arg(&archive).arg("-C").arg(dir.join("layout")));
        let mut unpack = Command::new("umoci");
        unpack.arg("unpack");
        if !is_root() {
            unpack.arg("--rootless");
        }
        run(unpack.arg("--image").arg(format!("{}:{VERSION}", dir.join("layout").display())).arg(dir.join("bundle")));
        Self { dir }
    }

    fn blob(&self, digest: &str) -> Value {
        let (algorithm, hex) = digest.split_once(':').unwrap();
        let text = std::fs::read_to_string(self.dir.join("layout/blobs").join(algorithm).join(hex)).unwrap();
        serde_json::from_str(&text).unwrap()
    }

    fn rootfs(&self) -> PathBuf {
        self.dir.join("bundle/rootfs")
    }

    fn bundle_config(&self) -> Value {
        serde_json::from_str(&std::fs::read_to_string(self.dir.join("bundle/config.json")).unwrap()).unwrap()
    }
}

impl Drop for Unpacked {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Every path under `root`, relative, sorted.
fn tree(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            out.push(path.strip_prefix(root).unwrap().display().to_string());
            if path.is_dir() && !path.is_symlink() {
                stack.push(path);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn the_image_runs_as_non_root_holds_a_static_binary_and_carries_the_oci_annotations() {
    let image = Unpacked::new();
    let index = image.blob_index();
    let descriptor = &index["manifests"][0];
    assert_eq!(descriptor["annotations"]["org.opencontainers.image.ref.name"], VERSION, "{index:#}");
    let manifest = image.blob(descriptor["digest"].as_str().unwrap());
    let config = image.blob(manifest["config"]["digest"].as_str().unwrap());
    for annotations in [&manifest["annotations"], &config["config"]["Labels"]] {
        assert_eq!(annotations["org.opencontainers.image.version"], VERSION, "{annotations:#}");
        assert_eq!(annotations["org.opencontainers.image.title"], "spire-steward");
        let revision = annotations["org.opencontainers.image.revision"].as_str().unwrap();
        assert!(revision.len() == 40 && revision.chars().all(|c| c.is_ascii_hexdigit()), "{revision}");
        assert!(annotations["org.opencontainers.image.source"].as_str().unwrap().starts_with("https://"));
        assert!(annotations["org.opencontainers.image.created"].as_str().unwrap().ends_with('Z'));
    }
    assert_eq!(config["config"]["User"], "65532:65532");
    assert_eq!(config["config"]["Entrypoint"], json!(["/usr/local/bin/spire-steward"]));
    assert_eq!(config["config"]["Cmd"], json!(["run"]));
    assert_eq!((config["os"].as_str(), config["architecture"].as_str()), (Some("linux"), Some("amd64")));
    assert_eq!(manifest["layers"].as_array().unwrap().len(), 1, "one layer");

    // The binary, the non-root user, /tmp; no shell, no libraries.
    let rootfs = image.rootfs();
    assert_eq!(
        tree(&rootfs),
        ["etc", "etc/group", "etc/passwd", "tmp", "usr", "usr/local", "usr/local/bin", "usr/local/bin/spire-steward"]
    );
    let passwd = std::fs::read_to_string(rootfs.join("etc/passwd")).unwrap();
    assert!(passwd.contains("nonroot:x:65532:65532:"), "{passwd}");
    let binary = rootfs.join("usr/local/bin/spire-steward");
    let headers = run(Command::new("readelf").arg("-l").arg(&binary));
    assert!(!headers.contains("INTERP"), "the binary asks for a program interpreter:\n{headers}");
    let version = run(Command::new(&binary).arg("--version"));
    assert_eq!(version.trim(), format!("spire-steward {VERSION}"));
    // The revision it was built from, as the image's annotation says.
    let build: Value = serde_json::from_str(&run(Command::new(&binary).args(["version", "-o", "json"]))).unwrap();
    let head = run(Command::new("git").args(["rev-parse", "HEAD"]));
    assert_eq!(build["client"]["revision"], head.trim(), "{build}");
    assert_ne!(build["client"]["buildDate"], "unknown", "{build}");
}

impl Unpacked {
    fn blob_index(&self) -> Value {
        serde_json::from_str(&std::fs::read_to_string(self.dir.join("layout/index.json")).unwrap()).unwrap()
    }
}

/// Whether this machine runs OCI containers: runc present, and root (runc needs it here).
fn runc_usable() -> bool {
    is_root() && Command::new("runc").arg("--version").output().is_ok_and(|o| o.status.success())
}

/// The operator runs from the image: in runc (host network, the configuration, kubeconfig and
/// SPIRE socket mounted, as the image's user 65532 with the socket's group), else from the
/// unpacked root filesystem. It reaches the testbed and writes the world's entry.
#[tokio::test]
async fn the_operator_from_the_image_reaches_the_testbed() {
    let bed = testbed();
    let world = World::with_one_pod(bed, "img").await;
    let image = Unpacked::new();
    let name = world.identity_name("img");
    let mut container = None;
    let operator = if runc_usable() {
        let mounted = image.dir.join("etc");
        std::fs::create_dir_all(&mounted).unwrap();
        let config = Operator::write_config(bed, &world, Path::new("/spire-server/api.sock"), "", "image");
        std::fs::copy(&config, mounted.join("config.yaml")).unwrap();
        std::fs::copy(bed.var("KUBECONFIG_OPERATOR"), mounted.join("kubeconfig")).unwrap();
        run(Command::new("chmod").arg("-R").arg("a+rX").arg(&mounted));
        let mut spec = image.bundle_config();
        let process = &mut spec["process"];
        process["terminal"] = json!(false);
        process["args"] = json!(["/usr/local/bin/spire-steward", "run", "--config", "/etc/spire-steward/config.yaml"]);
        let env = process["env"].as_array_mut().unwrap();
        env.push(json!("KUBECONFIG=/etc/spire-steward/kubeconfig"));
        env.push(json!(format!("POD_NAME={}-image", world.id)));
        env.push(json!("NO_COLOR=1"));
        // The socket is the SPIRE server's, group root, mode 0770: the pod's fsGroup, here.
        process["user"]["additionalGids"] = json!([0]);
        spec["root"]["readonly"] = json!(true);
        let namespaces = spec["linux"]["namespaces"].as_array_mut().unwrap();
        namespaces.retain(|n| n["type"] != "network");
        let mounts = spec["mounts"].as_array_mut().unwrap();
        mounts.push(json!({ "destination": "/etc/spire-steward", "type": "bind", "source": mounted,
            "options": ["rbind", "ro"] }));
        mounts.push(json!({ "destination": "/spire-server/api.sock", "type": "bind", "source": bed.spire_socket(),
            "options": ["bind"] }));
        std::fs::write(image.dir.join("bundle/config.json"), serde_json::to_vec_pretty(&spec).unwrap()).unwrap();
        let id = format!("steward-{}", world.id);
        let mut command = Command::new("runc");
        command.args(["run", "--bundle"]).arg(image.dir.join("bundle")).arg(&id);
        container = Some(id);
        Operator::spawn(command, &world, "image")
    } else {
        eprintln!("runc is not usable here: running the image's binary from its root filesystem");
        let config = Operator::write_config(bed, &world, &bed.spire_socket(), "", "image");
        let mut command = Command::new(image.rootfs().join("usr/local/bin/spire-steward"));
        command.args(["run", "--config", config.to_str().unwrap()]).env("KUBECONFIG", bed.var("KUBECONFIG_OPERATOR"));
        Operator::spawn(command, &world, "image")
    };
    world.wait_ready(&operator, "ClusterSPIFFEID", &name, ("True", "Synced")).await;
    let stored = entries(&bed.spire(), &world.prefix).await;
    assert_eq!(stored.len(), 1, "{stored:?}\nlog:\n{}", operator.log_text());
    if let Some(id) = &container {
        let state: Value = serde_json::from_str(&run(Command::new("runc").args(["state", id]))).unwrap();
        let pid = state["pid"].as_i64().unwrap();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let uid = status.lines().find(|l| l.starts_with("Uid:")).unwrap().to_owned();
        assert_eq!(uid.split_whitespace().nth(1), Some("65532"), "{uid}");
        eprintln!("the operator ran in runc container {id} as uid 65532");
    }
    drop(operator);
    if let Some(id) = container {
        let _ = Command::new("runc").args(["delete", "--force", &id]).status();
    }
    world.clean_up().await;
}
