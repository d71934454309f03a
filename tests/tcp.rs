//! The SPIRE Server reached the way a standalone install reaches it: over TCP with SPIFFE mTLS,
//! the operator's own X509-SVID from the testbed's real spire-agent, authorised as admin by an
//! `admin: true` entry. Without that entry the server refuses it: PermissionDenied in status and
//! logs, and nothing is deleted.

mod support;

use std::time::Duration;

use spire_steward::spiffe::{Entry, EntryId, Selector, SpiffeId};
use support::{
    eventually,
    operator::{Operator, World, entries},
    testbed,
};

/// Registers `binary` with the agent as a workload, an admin one if `admin`; the entry's ID.
async fn workload_entry(world: &World, binary: &std::path::Path, admin: bool) -> EntryId {
    workload_entry_with_ttl(world, binary, admin, 0).await
}

/// As [`workload_entry`], its X509-SVIDs living `ttl` seconds (0: the server's default).
async fn workload_entry_with_ttl(world: &World, binary: &std::path::Path, admin: bool, ttl: i32) -> EntryId {
    let bed = testbed();
    let td = bed.trust_domain();
    let kind = if admin { "admin" } else { "plain" };
    let mut entry = Entry::new(
        SpiffeId::parse(&format!("spiffe://{td}/steward-{kind}/{}", world.id)).unwrap(),
        SpiffeId::parse(bed.var("SPIRE_AGENT_ID")).unwrap(),
        vec![Selector::parse(&format!("unix:path:{}", binary.display())).unwrap()],
    );
    let id = EntryId::parse(&format!("{kind}_{}", world.prefix)).unwrap();
    entry.id = Some(id.clone());
    entry.admin = admin;
    entry.x509_svid_ttl = ttl;
    let outcome = bed.spire().batch_create_entries(&[entry]).await.unwrap();
    assert!(matches!(outcome[0], spire_steward::spire::CreateOutcome::Created(_)), "{:?}", outcome[0]);
    id
}

fn tcp_config() -> String {
    let bed = testbed();
    format!(
        "spireServerAddress: {}\nspireAgentSocketPath: {}\n",
        bed.var("SPIRE_SERVER_ADDRESS"),
        bed.var("SPIRE_AGENT_SOCKET")
    )
}

fn start(world: &World, binary: &std::path::Path, extra: &str) -> Operator {
    let bed = testbed();
    // The socket in the file is never dialled: the address wins.
    let config = Operator::write_config(bed, world, std::path::Path::new("/nonexistent/api.sock"), extra, "tcp");
    let mut command = std::process::Command::new(binary);
    command
        .args(["run", "--config", config.to_str().unwrap()])
        .env("KUBECONFIG", bed.var("KUBECONFIG_OPERATOR"))
        .env("POD_NAME", format!("{}-tcp", world.id));
    Operator::spawn(command, world, "tcp")
}

#[tokio::test]
async fn the_operator_reaches_spire_over_tcp_with_its_own_svid() {
    let bed = testbed();
    let world = World::with_one_pod(bed, "tcp").await;
    let name = world.identity_name("tcp");
    let binary = world.own_binary("tcp");
    let admin = workload_entry(&world, &binary, true).await;
    let operator = start(&world, &binary, &tcp_config());
    let ready = Duration::from_secs(60);
    let synced = eventually(ready, || async {
        world.condition("ClusterSPIFFEID", &name, "Ready").await.filter(|c| c.1 == "Synced").map(|_| ())
    })
    .await;
    assert!(synced.is_some(), "never Synced over TCP\nlog:\n{}", operator.log_text());
    let stored = entries(&bed.spire(), &world.prefix).await;
    assert_eq!(stored.len(), 1, "{stored:?}");
    let log = operator.log_text();
    assert!(log.contains("received an X509-SVID from the Workload API"), "{log}");
    assert!(log.contains(&format!("steward-admin/{}", world.id)), "{log}");

    // A pod added while connected over TCP gets its entry too.
    world.pod("p-2", &[], Some("node")).await;
    let two =
        eventually(ready, || async { (entries(&bed.spire(), &world.prefix).await.len() == 2).then_some(()) }).await;
    assert!(two.is_some(), "the second pod's entry never came\nlog:\n{}", operator.log_text());
    drop(operator);
    let _ = bed.spire().batch_delete_entries(&[admin]).await;
    world.clean_up().await;
}

#[tokio::test]
async fn without_an_admin_entry_the_server_refuses_and_nothing_is_deleted() {
    let bed = testbed();
    let world = World::with_one_pod(bed, "noadmin").await;
    let name = world.identity_name("noadmin");
    // The entry an earlier operator wrote over the socket.
    let mut first = Operator::start(bed, &world, &bed.spire_socket(), "");
    world.wait_ready(&first, "ClusterSPIFFEID", &name, ("True", "Synced")).await;
    first.stop();
    let before = entries(&bed.spire(), &world.prefix).await;
    assert_eq!(before.len(), 1);

    // Registered as a workload, but not as admin.
    let binary = world.own_binary("tcp");
    let id = workload_entry(&world, &binary, false).await;
    // The pod goes: with access, its entry would be deleted.
    let now_gone = kube::api::DeleteParams { grace_period_seconds: Some(0), ..Default::default() };
    world.pods().delete("p-1", &now_gone).await.unwrap();
    let operator = start(&world, &binary, &tcp_config());
    let refused = eventually(Duration::from_secs(60), || async {
        operator.log_text().contains("PermissionDenied").then_some(())
    })
    .await;
    assert!(refused.is_some(), "no PermissionDenied in the log\nlog:\n{}", operator.log_text());
    // The resource says so too, as an outage the operator keeps retrying.
    let shown = eventually(Duration::from_secs(30), || async {
        world.condition("ClusterSPIFFEID", &name, "Ready").await.filter(|c| c.1 == "SpireUnavailable")
    })
    .await;
    let (ready, _, message) =
        shown.unwrap_or_else(|| panic!("no SpireUnavailable status\nlog:\n{}", operator.log_text()));
    assert_eq!(ready, "False");
    assert!(message.contains("denied the operator with PermissionDenied"), "{message}");
    assert!(message.contains("admin: true"), "{message}");
    let reconciling = world.condition("ClusterSPIFFEID", &name, "Reconciling").await.unwrap();
    assert_eq!((reconciling.0.as_str(), reconciling.1.as_str()), ("True", "SpireUnavailable"));
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(entries(&bed.spire(), &world.prefix).await, before, "nothing deleted");

    // Made admin, the operator goes on by itself and deletes the gone pod's entry.
    let mut entry = bed.spire().get_entry(&id).await.unwrap();
    entry.admin = true;
    let mask = spire_steward::spiffe::EntryMask::default().with(spire_steward::spiffe::EntryField::Admin);
    bed.spire().batch_update_entries(&[entry], mask).await.unwrap();
    let deleted = eventually(Duration::from_secs(60), || async {
        entries(&bed.spire(), &world.prefix).await.is_empty().then_some(())
    })
    .await;
    assert!(deleted.is_some(), "the entry was not deleted once admin\nlog:\n{}", operator.log_text());
    world.wait_ready(&operator, "ClusterSPIFFEID", &name, ("True", "Synced")).await;
    drop(operator);
    let _ = bed.spire().batch_delete_entries(&[id]).await;
    world.clean_up().await;
}

/// SVIDs that live 10 seconds rotate every few seconds: every rotation moves the calls to a new
/// connection that presents the new SVID, and the operator keeps working long after the first
/// SVID expired.
#[tokio::test]
async fn a_rotated_svid_is_presented_on_a_new_connection() {
    let bed = testbed();
    let world = World::with_one_pod(bed, "rotate").await;
    let name = world.identity_name("rotate");
    let binary = world.own_binary("tcp");
    let admin = workload_entry_with_ttl(&world, &binary, true, 10).await;
    let operator = start(&world, &binary, &tcp_config());
    world.wait_ready(&operator, "ClusterSPIFFEID", &name, ("True", "Synced")).await;
    let rotations = |log: &str| log.matches("the X509-SVID rotated").count();
    let rotated =
        eventually(Duration::from_secs(60), || async { (rotations(&operator.log_text()) >= 3).then_some(()) }).await;
    assert!(rotated.is_some(), "fewer than 3 rotations in a minute\nlog:\n{}", operator.log_text());
    // Past the first SVID's expiry, writes still go through: a new pod gets its entry.
    world.pod("p-2", &[], Some("node")).await;
    let two = eventually(Duration::from_secs(30), || async {
        (entries(&bed.spire(), &world.prefix).await.len() == 2).then_some(())
    })
    .await;
    assert!(two.is_some(), "no entry for the second pod after rotations\nlog:\n{}", operator.log_text());
    drop(operator);
    let _ = bed.spire().batch_delete_entries(&[admin]).await;
    world.clean_up().await;
}
