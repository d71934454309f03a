//! Items the operator cannot read, met among many it can: they are left alone and reported, and
//! everything else goes on.

mod support;

use std::time::Duration;

use spire_steward::spire::{
    ClientConfig, SpireClient,
    proto::{entry as rpc, entry::entry_client::EntryClient, types},
};
use support::{
    PrivateSpireServer, eventually,
    operator::{Operator, World, entries, free_port, metric},
    testbed, unique,
};

/// Creates, straight through SPIRE's API, an entry under `prefix` that federates with a trust
/// domain name longer than the operator accepts (SPIRE sets no length limit). Returns its ID.
async fn unreadable_entry(spire: &SpireClient, prefix: &str) -> String {
    let long = support::overlong_trust_domain(spire).await;
    let id = format!("{prefix}.{}", unique("odd").replace('-', ""));
    let wire_id = |path: &str| types::Spiffeid { trust_domain: "example.org".into(), path: path.into() };
    let request = rpc::BatchCreateEntryRequest {
        entries: vec![types::Entry {
            id: id.clone(),
            spiffe_id: Some(wire_id("/odd")),
            parent_id: Some(wire_id("/spire/agent/legacy")),
            selectors: vec![types::Selector { r#type: "unix".into(), value: "uid:2".into() }],
            federates_with: vec![long],
            ..Default::default()
        }],
        output_mask: None,
    };
    let result = EntryClient::new(spire.channel()).batch_create_entry(request).await.unwrap().into_inner();
    let status = result.results[0].status.clone().unwrap();
    assert_eq!(status.code, 0, "SPIRE accepts the entry: {}", status.message);
    id
}

#[tokio::test]
async fn an_owned_entry_the_operator_cannot_read_is_left_alone_and_the_rest_goes_on() {
    let bed = testbed();
    let server = PrivateSpireServer::start(bed);
    let spire = SpireClient::new(ClientConfig::new(server.socket()));
    let world = World::with_one_pod(bed, "unreadable").await;
    let odd = unreadable_entry(&spire, &world.prefix).await;
    let port = free_port();
    let operator =
        Operator::start(bed, &world, &server.socket(), &format!("metrics: {{bindAddress: '127.0.0.1:{port}'}}\n"));

    // The pod's entry is written though the listing holds an entry the operator cannot read.
    let written = eventually(Duration::from_secs(30), || async {
        let now = entries(&spire, &world.prefix).await;
        now.iter().any(|e| e.spiffe_id.path() == "/pod/p-1").then_some(())
    })
    .await;
    assert!(written.is_some(), "the pod's entry was never written\n{}", operator.log_text());
    let unparsed = eventually(Duration::from_secs(10), || async {
        (metric(port, "spire_steward_spire_items_unparsed{kind=\"entry\"}").await == 1.0).then_some(())
    })
    .await;
    assert!(unparsed.is_some(), "the unread entry is counted");
    // Several periodic checks later it is still there, untouched, and logged once by ID.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let listing = spire.list_entries_lenient(&Default::default(), 100).await.unwrap();
    assert!(listing.unparsed.iter().any(|u| u.id == odd), "the unreadable entry was deleted");
    let log = operator.log_text();
    let lines: Vec<&str> = log.lines().filter(|l| l.contains("left out an entry") && l.contains(&odd)).collect();
    assert_eq!(lines.len(), 1, "{log}");
    // The relationship the entry federates with cannot be read either: logged once, too.
    let relationship = log.lines().filter(|l| l.contains("left out a federation relationship")).count();
    assert_eq!(relationship, 1, "{log}");
    assert!(!log.contains(&format!("deleted entry entry_id={odd}")), "{log}");
    world.clean_up().await;
}

/// A status condition time with more fractional digits than nanoseconds: the API server's
/// date-time check takes it, the operator's types do not.
const ODD_TIME: &str = "2020-01-01T00:00:00.1234567891234Z";

#[tokio::test]
async fn a_resource_that_does_not_parse_holds_its_entries_and_blocks_nothing() {
    use kube::api::{Patch, PatchParams};
    let bed = testbed();
    let spire = bed.spire();
    let world = World::with_one_pod(bed, "good").await;
    let other = world.identity_name("other");
    let mut spec = world.pod_identity_spec();
    spec["spiffeIDTemplate"] = "spiffe://{{ .TrustDomain }}/other/{{ .PodMeta.Name }}".into();
    world.apply("ClusterSPIFFEID", &other, spec).await;
    let port = free_port();
    let metrics = format!("metrics: {{bindAddress: '127.0.0.1:{port}'}}\n");
    let mut operator = Operator::start(bed, &world, &bed.spire_socket(), &metrics);
    let paths = || async {
        entries(&spire, &world.prefix).await.iter().map(|e| e.spiffe_id.path().to_owned()).collect::<Vec<_>>()
    };
    let want = |want: &'static [&'static str]| {
        let paths = &paths;
        async move {
            eventually(Duration::from_secs(30), || async { (paths().await == want).then_some(()) }).await.is_some()
        }
    };
    assert!(want(&["/other/p-1", "/pod/p-1"]).await, "{:?}\n{}", paths().await, operator.log_text());

    let before = metric(port, "spire_steward_resources_unreadable{kind=\"ClusterSPIFFEID\"}").await;
    // Another client writes a status the operator's types refuse.
    let api = support::operator::dynamic(&world.client, "ClusterSPIFFEID");
    let status = serde_json::json!({ "status": { "conditions": [{
        "type": "Audited", "status": "True", "reason": "Audit", "message": "seen", "lastTransitionTime": ODD_TIME,
    }]}});
    api.patch_status(&other, &PatchParams::default(), &Patch::Merge(&status)).await.unwrap();
    // So does another operator's resource, which this one leaves alone: its class is still read.
    let theirs = world.identity_name("theirs");
    let mut foreign = world.pod_identity_spec();
    foreign["className"] = "another-operator".into();
    world.apply("ClusterSPIFFEID", &theirs, foreign).await;
    api.patch_status(&theirs, &PatchParams::default(), &Patch::Merge(&status)).await.unwrap();

    // It is reported, its entry is kept, and the rest goes on.
    let counted = eventually(Duration::from_secs(30), || async {
        (metric(port, "spire_steward_resources_unreadable{kind=\"ClusterSPIFFEID\"}").await == before + 1.0)
            .then_some(())
    })
    .await;
    assert!(counted.is_some(), "the unreadable resource is counted\n{}", operator.log_text());
    world.pod("p-2", &[], Some("node")).await;
    assert!(want(&["/other/p-1", "/pod/p-1", "/pod/p-2"]).await, "{:?}\n{}", paths().await, operator.log_text());
    let events: kube::Api<k8s_openapi::api::events::v1::Event> = kube::Api::all(world.client.clone());
    let selector = format!("regarding.name={other}");
    let event = eventually(Duration::from_secs(30), || async {
        let list = events.list(&kube::api::ListParams::default().fields(&selector)).await.ok()?;
        list.items.into_iter().find(|e| e.reason.as_deref() == Some("Unreadable"))
    })
    .await
    .expect("an Unreadable Event");
    assert_eq!(event.type_.as_deref(), Some("Warning"));
    let note = event.note.unwrap_or_default();
    let theirs_selector = format!("regarding.name={theirs}");
    let theirs_events = events.list(&kube::api::ListParams::default().fields(&theirs_selector)).await.unwrap();
    assert!(theirs_events.items.is_empty(), "another class's object is not reported: {:?}", theirs_events.items);
    assert!(note.contains("does not parse") && note.contains("1234Z"), "the note shows the value: {note}");

    // A restarted operator fills its caches all the same.
    operator.stop();
    world.pod("p-3", &[], Some("node")).await;
    let operator = Operator::start(bed, &world, &bed.spire_socket(), &metrics);
    assert!(
        want(&["/other/p-1", "/pod/p-1", "/pod/p-2", "/pod/p-3"]).await,
        "{:?}\n{}",
        paths().await,
        operator.log_text()
    );
    world.clean_up().await;
}
