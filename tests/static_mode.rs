//! Static manifest mode: the operator reads its resources from a directory of files, with no
//! Kubernetes API at all (its kubeconfig points nowhere), and keeps SPIRE in line with them.

mod support;

use std::{path::Path, time::Duration};

use support::{
    eventually,
    operator::{Operator, World, entries, free_port, http_get},
    repo_root, testbed,
};

const WAIT: Duration = Duration::from_secs(30);

fn static_entry(api_version: &str, name: &str, world: &World, spiffe_id: &str, selector: &str) -> String {
    format!(
        "apiVersion: {api_version}\nkind: ClusterStaticEntry\nmetadata:\n  name: {name}\nspec:\n  className: {class}\n  \
         spiffeID: {spiffe_id}\n  parentID: spiffe://example.org/static-node/{id}\n  selectors: ['{selector}']\n",
        class = world.class,
        id = world.id,
    )
}

fn federation(world: &World, trust_domain: &str) -> String {
    format!(
        "apiVersion: spire.spiffe.io/v1alpha1\nkind: ClusterFederatedTrustDomain\nmetadata:\n  name: fed-{id}\nspec:\n  \
         className: {class}\n  trustDomain: {trust_domain}\n  bundleEndpointURL: https://127.0.0.1:1/bundle\n  \
         bundleEndpointProfile:\n    type: https_web\n",
        id = world.id,
        class = world.class,
    )
}

/// The SPIFFE IDs and selectors of the world's entries.
async fn stored(world: &World) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<_> = entries(&testbed().spire(), &world.prefix)
        .await
        .into_iter()
        .map(|e| (e.spiffe_id.to_string(), e.selectors.iter().map(ToString::to_string).collect()))
        .collect();
    out.sort();
    out
}

async fn relationship(trust_domain: &str) -> bool {
    let listed = testbed().spire().list_federation_relationships().await.unwrap();
    listed.iter().any(|r| r.trust_domain.as_str() == trust_domain)
}

fn write(dir: &Path, file: &str, text: &str) {
    // Written aside and renamed, as a ConfigMap volume updates: a pass never reads half a file.
    let aside = dir.join(format!(".{file}.tmp"));
    std::fs::write(&aside, text).unwrap();
    std::fs::rename(&aside, dir.join(file)).unwrap();
}

#[tokio::test]
async fn entries_and_relationships_follow_the_files() {
    let bed = testbed();
    let world = World::new(bed).await;
    let dir = repo_root().join("target/operator-tests").join(format!("{}-manifests", world.id));
    std::fs::create_dir_all(&dir).unwrap();
    let db = format!("spiffe://example.org/static/{}/db", world.id);
    let cache = format!("spiffe://example.org/static/{}/cache", world.id);
    let fed = format!("fed-{}.test", world.id);
    // spire-controller-manager's group, as its manifest directory holds them; spire-steward's,
    // with a variable expanded from the environment.
    write(&dir, "a.yaml", &static_entry("spire.spiffe.io/v1alpha1", "db", &world, &db, "unix:uid:1000"));
    let templated = cache.replace("example.org", "${STATIC_TRUST_DOMAIN}");
    write(&dir, "b.yaml", &static_entry("spire-steward.io/v1alpha1", "cache", &world, &templated, "unix:uid:1001"));
    write(&dir, "c.yaml", &federation(&world, &fed));
    // Not read: another extension, a subdirectory, a kind static mode does not know.
    write(&dir, "d.yml", &static_entry("spire.spiffe.io/v1alpha1", "yml", &world, &format!("{db}-yml"), "unix:uid:1"));
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    write(
        &dir.join("sub"),
        "e.yaml",
        &static_entry("spire.spiffe.io/v1alpha1", "sub", &world, &format!("{db}-sub"), "unix:uid:1"),
    );
    write(&dir, "notes.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: notes}\n");

    let health = free_port();
    let extra = format!(
        "staticManifestPath: {}\nexpandEnvStaticManifests: true\ngcInterval: 1s\n\
         health: {{healthProbeBindAddress: '127.0.0.1:{health}'}}\n",
        dir.display()
    );
    let config = Operator::write_config(bed, &world, &bed.spire_socket(), &extra, "static");
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_spire-steward"));
    command
        .args(["run", "--config", config.to_str().unwrap()])
        .env("KUBECONFIG", "/nonexistent/kubeconfig")
        .env("STATIC_TRUST_DOMAIN", "example.org");
    let operator = Operator::spawn(command, &world, "static");

    let want = vec![(cache.clone(), vec!["unix:uid:1001".to_owned()]), (db.clone(), vec!["unix:uid:1000".to_owned()])];
    let created = eventually(WAIT, || async { (stored(&world).await == want).then_some(()) }).await;
    assert!(created.is_some(), "{:?}\nlog:\n{}", stored(&world).await, operator.log_text());
    let federated = eventually(WAIT, || async { relationship(&fed).await.then_some(()) }).await;
    assert!(federated.is_some(), "no relationship for {fed}\nlog:\n{}", operator.log_text());
    let log = operator.log_text();
    assert!(log.contains("left out ConfigMap of v1"), "{log}");
    assert!(!log.contains("connecting to Kubernetes"), "static mode never reaches for the Kubernetes API:\n{log}");
    let ready = eventually(WAIT, || async { (http_get(health, "/readyz").await?.0 == 200).then_some(()) }).await;
    assert!(ready.is_some(), "not ready after a pass");
    let db_id =
        entries(&bed.spire(), &world.prefix).await.into_iter().find(|e| e.spiffe_id.to_string() == db).unwrap().id;

    // An edit of a field outside the entry's key is written to the same entry.
    let hinted = static_entry("spire.spiffe.io/v1alpha1", "db", &world, &db, "unix:uid:1000") + "  hint: edited\n";
    write(&dir, "a.yaml", &hinted);
    let updated = eventually(WAIT, || async {
        let now = entries(&testbed().spire(), &world.prefix).await;
        now.into_iter().find(|e| e.spiffe_id.to_string() == db && e.hint == "edited").map(|e| e.id)
    })
    .await;
    assert_eq!(updated, Some(db_id), "not updated in place\nlog:\n{}", operator.log_text());

    // A broken file stops every write: the file removed beside it keeps its entry.
    write(
        &dir,
        "e.yaml",
        &static_entry("spire.spiffe.io/v1alpha1", "bad", &world, &db, "unix:uid:1")
            .replace("selectors: ['unix:uid:1']", "selectors: 'unix:uid:1'"),
    );
    std::fs::remove_file(dir.join("b.yaml")).unwrap();
    let named = eventually(WAIT, || async {
        let log = operator.log_text();
        (log.contains("e.yaml: document 1: ClusterStaticEntry bad: field spec.selectors")).then_some(())
    })
    .await;
    assert!(named.is_some(), "the error does not name the file and field\nlog:\n{}", operator.log_text());
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(stored(&world).await.len(), 2, "nothing deleted while a file is broken");

    // Fixed, the pass goes on: the removed file's entry goes.
    std::fs::remove_file(dir.join("e.yaml")).unwrap();
    let removed = eventually(WAIT, || async { (stored(&world).await.len() == 1).then_some(()) }).await;
    assert!(removed.is_some(), "{:?}\nlog:\n{}", stored(&world).await, operator.log_text());
    assert_eq!(stored(&world).await[0].0, db);

    // The federation relationship goes with its file.
    std::fs::remove_file(dir.join("c.yaml")).unwrap();
    let unfederated = eventually(WAIT, || async { (!relationship(&fed).await).then_some(()) }).await;
    assert!(unfederated.is_some(), "the relationship stayed\nlog:\n{}", operator.log_text());

    drop(operator);
    let ids: Vec<_> = entries(&bed.spire(), &world.prefix).await.into_iter().filter_map(|e| e.id).collect();
    let _ = bed.spire().batch_delete_entries(&ids).await;
    let _ = std::fs::remove_dir_all(&dir);
    world.clean_up().await;
}

/// spire-controller-manager's own configuration file, with its static manifest keys, runs the
/// same mode; what static mode cannot do is refused by name.
#[tokio::test]
async fn a_spire_controller_manager_static_configuration_runs_as_it_is() {
    let bed = testbed();
    let world = World::new(bed).await;
    let dir = repo_root().join("target/operator-tests").join(format!("{}-scm-manifests", world.id));
    std::fs::create_dir_all(&dir).unwrap();
    let id = format!("spiffe://example.org/static/{}/scm", world.id);
    write(&dir, "entry.yaml", &static_entry("spire.spiffe.io/v1alpha1", "scm", &world, &id, "unix:uid:7"));
    let config = repo_root().join("target/operator-tests").join(format!("{}-scm-static.yaml", world.id));
    let scm = |leader_elect: bool| {
        format!(
            "apiVersion: spire.spiffe.io/v1alpha1\nkind: ControllerManagerConfig\n\
             metrics:\n  bindAddress: \"0\"\nhealth:\n  healthProbeBindAddress: \"0\"\n\
             leaderElection:\n  leaderElect: {leader_elect}\n\
             entryIDPrefix: {prefix}\nclusterName: test\ntrustDomain: {td}\n\
             spireServerSocketPath: {socket}\nclassName: {class}\ngcInterval: 1000000000\n\
             staticManifestPath: {dir}\n",
            prefix = world.prefix,
            td = bed.trust_domain(),
            socket = bed.spire_socket().display(),
            class = world.class,
            dir = dir.display(),
        )
    };
    std::fs::write(&config, scm(true)).unwrap();
    let refused = std::process::Command::new(env!("CARGO_BIN_EXE_spire-steward"))
        .args(["run", "--config", config.to_str().unwrap()])
        .env("KUBECONFIG", "/nonexistent/kubeconfig")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(stderr.contains("leaderElection.leaderElect"), "{stderr}");

    std::fs::write(&config, scm(false)).unwrap();
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_spire-steward"));
    command.args(["run", "--config", config.to_str().unwrap()]).env("KUBECONFIG", "/nonexistent/kubeconfig");
    let operator = Operator::spawn(command, &world, "scm-static");
    let created = eventually(WAIT, || async {
        (stored(&world).await == [(id.clone(), vec!["unix:uid:7".to_owned()])]).then_some(())
    })
    .await;
    assert!(created.is_some(), "{:?}\nlog:\n{}", stored(&world).await, operator.log_text());
    drop(operator);
    let ids: Vec<_> = entries(&bed.spire(), &world.prefix).await.into_iter().filter_map(|e| e.id).collect();
    let _ = bed.spire().batch_delete_entries(&ids).await;
    let _ = std::fs::remove_dir_all(&dir);
    world.clean_up().await;
}

/// An empty directory (not mounted, say) stops every pass; observe mode writes nothing and is
/// ready all the same.
#[tokio::test]
async fn an_empty_directory_writes_nothing_and_observe_mode_is_ready() {
    let bed = testbed();
    let world = World::new(bed).await;
    let dir = repo_root().join("target/operator-tests").join(format!("{}-empty-manifests", world.id));
    std::fs::create_dir_all(&dir).unwrap();
    let start = |mode: &str, replica: &str| {
        let health = free_port();
        let extra = format!(
            "staticManifestPath: {}\ngcInterval: 1s\nmode: {mode}\nhealth: {{healthProbeBindAddress: '127.0.0.1:{health}'}}\n",
            dir.display()
        );
        let config = Operator::write_config(bed, &world, &bed.spire_socket(), &extra, replica);
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_spire-steward"));
        command.args(["run", "--config", config.to_str().unwrap()]).env("KUBECONFIG", "/nonexistent/kubeconfig");
        (Operator::spawn(command, &world, replica), health)
    };
    let (operator, health) = start("Enforce", "empty");
    let refused =
        eventually(WAIT, || async { operator.log_text().contains("holds no *.yaml file").then_some(()) }).await;
    assert!(refused.is_some(), "{}", operator.log_text());
    let (code, _) = http_get(health, "/readyz").await.unwrap();
    assert_eq!(code, 503, "not ready while the directory is empty");
    drop(operator);

    let id = format!("spiffe://example.org/static/{}/observed", world.id);
    write(&dir, "entry.yaml", &static_entry("spire.spiffe.io/v1alpha1", "observed", &world, &id, "unix:uid:9"));
    write(&dir, "federation.yaml", &federation(&world, &format!("fed-{}.test", world.id)));
    let (operator, health) = start("Observe", "observe");
    let ready = eventually(WAIT, || async { (http_get(health, "/readyz").await?.0 == 200).then_some(()) }).await;
    assert!(ready.is_some(), "observe mode never ready\n{}", operator.log_text());
    assert!(operator.log_text().contains("observe mode: writes planned and not made"), "{}", operator.log_text());
    assert!(stored(&world).await.is_empty(), "observe mode wrote an entry");
    assert!(!relationship(&format!("fed-{}.test", world.id)).await, "observe mode wrote a relationship");
    drop(operator);
    let _ = std::fs::remove_dir_all(&dir);
    world.clean_up().await;
}
