//! The SPIRE client against a real spire-server on the testbed.

#[path = "spire_client/stored_form.rs"]
mod stored_form;
mod support;

use std::{collections::HashSet, time::Duration};

use spire_steward::{
    spiffe::{Entry, EntryId, Selector, SpiffeId, TrustDomain},
    spire::{
        BundleEndpointProfile, ClientConfig, CreateOutcome, EntryField, EntryFilter, EntryMask, FederationRelationship,
        MatchBehavior, RelationshipMask, SpireClient,
        proto::{entry as rpc, entry::entry_client::EntryClient, types},
    },
};
use support::{testbed, unique};
use tonic::Code;

/// A parent ID of this test's own, so its entries never meet another test's.
fn test_parent(td: &str) -> SpiffeId {
    SpiffeId::parse(&format!("spiffe://{td}/spire/agent/test/{}", unique("node"))).unwrap()
}

fn entry(td: &str, parent: &SpiffeId, path: &str, selectors: &[&str]) -> Entry {
    let mut entry = Entry::new(
        SpiffeId::parse(&format!("spiffe://{td}/{path}")).unwrap(),
        parent.clone(),
        selectors.iter().map(|s| Selector::parse(s).unwrap()).collect(),
    );
    entry.id = Some(EntryId::parse(&format!("spire-steward-test.{}", unique("e"))).unwrap());
    entry
}

fn by_parent(parent: &SpiffeId) -> EntryFilter {
    EntryFilter { by_parent_id: Some(parent.clone()), ..Default::default() }
}

/// Deletes every entry under `parent`.
async fn clean_up(spire: &SpireClient, parent: &SpiffeId) {
    let ids: Vec<EntryId> = spire
        .list_entries(&by_parent(parent), 200)
        .await
        .expect("listing entries to clean up")
        .into_iter()
        .filter_map(|e| e.id)
        .collect();
    for result in spire.batch_delete_entries(&ids).await.expect("cleaning up") {
        result.expect("deleting an entry of this test");
    }
}

fn created(outcome: CreateOutcome) -> Entry {
    match outcome {
        CreateOutcome::Created(entry) => entry,
        other => panic!("expected Created, got {other:?}"),
    }
}

#[tokio::test]
async fn entries_round_trip_create_get_update_delete() {
    let bed = testbed();
    let spire = bed.spire();
    let td = bed.trust_domain();
    let parent = test_parent(td);

    let mut wanted = entry(td, &parent, &unique("web"), &["k8s:ns:default", "k8s:sa:web"]);
    wanted.x509_svid_ttl = 3600;
    wanted.jwt_svid_ttl = 300;
    wanted.dns_names = vec!["web.default.svc".into(), "web".into()];
    wanted.hint = "web".into();
    wanted.admin = true;
    let outcomes = spire.batch_create_entries(std::slice::from_ref(&wanted)).await.unwrap();
    let stored = created(outcomes.into_iter().next().unwrap());
    assert_eq!(stored.id, wanted.id, "SPIRE honours the entry ID we choose");
    assert_eq!(stored.revision_number, 0);
    assert!(stored.created_at > 0);

    let read = spire.get_entry(wanted.id.as_ref().unwrap()).await.unwrap();
    assert_eq!(read.spiffe_id, wanted.spiffe_id);
    assert_eq!(read.parent_id, wanted.parent_id);
    assert_eq!(read.selectors.iter().collect::<HashSet<_>>(), wanted.selectors.iter().collect());
    assert_eq!((read.x509_svid_ttl, read.jwt_svid_ttl), (3600, 300));
    assert_eq!(read.dns_names.iter().collect::<HashSet<_>>(), wanted.dns_names.iter().collect());
    assert_eq!(read.hint, "web");
    assert!(read.admin);

    // Only the masked fields change; everything else keeps its stored value even though the
    // update carries different values for it.
    let mut change = read.clone();
    change.hint = "web-v2".into();
    change.x509_svid_ttl = 600;
    change.dns_names = vec!["ignored".into()];
    change.admin = false;
    let mask: EntryMask = [EntryField::Hint, EntryField::X509SvidTtl].into_iter().collect();
    let updated = spire.batch_update_entries(&[change], mask).await.unwrap().remove(0).unwrap();
    assert_eq!(updated.hint, "web-v2");
    assert_eq!(updated.x509_svid_ttl, 600);
    assert_eq!(updated.jwt_svid_ttl, 300);
    assert_eq!(updated.dns_names.iter().collect::<HashSet<_>>(), wanted.dns_names.iter().collect());
    assert!(updated.admin);
    assert_eq!(updated.revision_number, 1);

    let deleted = spire.batch_delete_entries(&[wanted.id.clone().unwrap()]).await.unwrap();
    assert_eq!(deleted, vec![Ok(())]);
    let gone = spire.get_entry(wanted.id.as_ref().unwrap()).await.unwrap_err();
    assert_eq!(gone.code(), Code::NotFound, "{gone}");
}

#[tokio::test]
async fn listing_pages_through_more_than_a_thousand_entries() {
    const COUNT: usize = 1_050;
    const PAGE: i32 = 100;
    let bed = testbed();
    let spire = bed.spire();
    let td = bed.trust_domain();
    let parent = test_parent(td);

    let entries: Vec<Entry> =
        (0..COUNT).map(|i| entry(td, &parent, &format!("bulk/{i}"), &["unix:uid:1000"])).collect();
    let outcomes = spire.batch_create_entries(&entries).await.unwrap();
    assert_eq!(outcomes.iter().filter(|o| matches!(o, CreateOutcome::Created(_))).count(), COUNT);

    let filter = by_parent(&parent);
    assert_eq!(spire.count_entries(&filter).await.unwrap() as usize, COUNT);

    let mut seen = Vec::new();
    let mut pages = 0;
    let mut token = String::new();
    loop {
        let (page, next) = spire.list_entries_page(&filter, PAGE, token).await.unwrap();
        assert!(page.len() <= PAGE as usize);
        pages += 1;
        seen.extend(page.into_iter().map(|e| e.id.unwrap()));
        if next.is_empty() {
            break;
        }
        token = next;
    }
    assert!(pages > COUNT / PAGE as usize, "{pages} pages");
    let unique_ids: HashSet<&EntryId> = seen.iter().collect();
    assert_eq!(seen.len(), COUNT, "no entry repeated");
    let wanted: HashSet<&EntryId> = entries.iter().map(|e| e.id.as_ref().unwrap()).collect();
    assert_eq!(unique_ids, wanted, "no entry lost");

    let listed = spire.list_entries(&filter, PAGE).await.unwrap();
    assert_eq!(listed.len(), COUNT);

    clean_up(&spire, &parent).await;
    assert_eq!(spire.count_entries(&filter).await.unwrap(), 0);
}

#[tokio::test]
async fn filters_narrow_the_listing() {
    let bed = testbed();
    let spire = bed.spire();
    let td = bed.trust_domain();
    let parent = test_parent(td);
    let web = entry(td, &parent, &unique("web"), &["k8s:ns:shop", "k8s:sa:web"]);
    let mut db = entry(td, &parent, &unique("db"), &["k8s:ns:shop", "k8s:sa:db"]);
    db.hint = "database".into();
    db.downstream = true;
    spire.batch_create_entries(&[web.clone(), db.clone()]).await.unwrap().into_iter().for_each(|o| {
        created(o);
    });

    let ids = |entries: Vec<Entry>| entries.into_iter().map(|e| e.id.unwrap()).collect::<HashSet<_>>();
    let list = |filter: EntryFilter| {
        let spire = spire.clone();
        async move { ids(spire.list_entries(&filter, 50).await.unwrap()) }
    };
    let both: HashSet<EntryId> = [web.id.clone().unwrap(), db.id.clone().unwrap()].into();
    let only = |e: &Entry| HashSet::from([e.id.clone().unwrap()]);
    let sel = |s: &[&str]| s.iter().map(|s| Selector::parse(s).unwrap()).collect::<Vec<_>>();

    assert_eq!(list(by_parent(&parent)).await, both);
    assert_eq!(list(EntryFilter { by_spiffe_id: Some(web.spiffe_id.clone()), ..by_parent(&parent) }).await, only(&web));
    assert_eq!(
        list(EntryFilter {
            by_selectors: Some((sel(&["k8s:ns:shop"]), MatchBehavior::Superset)),
            ..by_parent(&parent)
        })
        .await,
        both
    );
    assert_eq!(
        list(EntryFilter {
            by_selectors: Some((sel(&["k8s:sa:web", "k8s:ns:shop"]), MatchBehavior::Exact)),
            ..by_parent(&parent)
        })
        .await,
        only(&web)
    );
    assert_eq!(
        list(EntryFilter {
            by_selectors: Some((sel(&["k8s:sa:db", "k8s:sa:x"]), MatchBehavior::Any)),
            ..by_parent(&parent)
        })
        .await,
        only(&db)
    );
    assert_eq!(list(EntryFilter { by_hint: Some("database".into()), ..by_parent(&parent) }).await, only(&db));
    assert_eq!(list(EntryFilter { by_downstream: Some(true), ..by_parent(&parent) }).await, only(&db));
    // SPIRE applies by_downstream only when it is true; false filters nothing.
    assert_eq!(
        spire.count_entries(&EntryFilter { by_downstream: Some(false), ..by_parent(&parent) }).await.unwrap(),
        2
    );

    clean_up(&spire, &parent).await;
}

#[tokio::test]
async fn a_similar_entry_comes_back_as_already_exists_unchanged() {
    let bed = testbed();
    let spire = bed.spire();
    let td = bed.trust_domain();
    let parent = test_parent(td);
    let mut first = entry(td, &parent, &unique("api"), &["k8s:ns:a", "k8s:sa:b"]);
    first.x509_svid_ttl = 120;
    created(spire.batch_create_entries(std::slice::from_ref(&first)).await.unwrap().remove(0));

    // Same SPIFFE ID, parent and selectors (in another order): a different ID and TTL are ignored.
    let mut similar = entry(td, &parent, "unused", &["k8s:sa:b", "k8s:ns:a"]);
    similar.spiffe_id = first.spiffe_id.clone();
    similar.x509_svid_ttl = 999;
    match spire.batch_create_entries(&[similar]).await.unwrap().remove(0) {
        CreateOutcome::AlreadyExists(existing) => {
            assert_eq!(existing.id, first.id);
            assert_eq!(existing.x509_svid_ttl, 120);
        }
        other => panic!("expected AlreadyExists, got {other:?}"),
    }
    clean_up(&spire, &parent).await;
}

#[tokio::test]
async fn unknown_entries_are_not_found_per_item_and_per_call() {
    let bed = testbed();
    let spire = bed.spire();
    let td = bed.trust_domain();
    let missing = EntryId::parse(&unique("missing")).unwrap();

    let get = spire.get_entry(&missing).await.unwrap_err();
    assert_eq!(get.code(), Code::NotFound);
    assert_eq!(get.method(), "GetEntry");

    let delete = spire.batch_delete_entries(std::slice::from_ref(&missing)).await.unwrap().remove(0).unwrap_err();
    assert_eq!(delete.code, Code::NotFound, "{delete}");

    let mut ghost = entry(td, &test_parent(td), "ghost", &["k8s:ns:x"]);
    ghost.id = Some(missing);
    let update = spire.batch_update_entries(&[ghost], EntryMask::all()).await.unwrap().remove(0).unwrap_err();
    assert_eq!(update.code, Code::NotFound, "{update}");
}

#[tokio::test]
async fn invalid_selectors_are_refused_per_item() {
    let bed = testbed();
    let spire = bed.spire();
    let td = bed.trust_domain();
    let parent = test_parent(td);

    // An entry without selectors goes through the client and is refused by SPIRE.
    let mut bare = entry(td, &parent, "bare", &["k8s:ns:x"]);
    bare.selectors.clear();
    let good = entry(td, &parent, "good", &["k8s:ns:x"]);
    let outcomes = spire.batch_create_entries(&[bare, good]).await.unwrap();
    match &outcomes[0] {
        CreateOutcome::Failed(e) => {
            assert_eq!(e.code, Code::InvalidArgument);
            assert!(e.message.contains("selector"), "{}", e.message);
        }
        other => panic!("expected Failed, got {other:?}"),
    }
    assert!(matches!(outcomes[1], CreateOutcome::Created(_)), "the rest of the batch goes through");

    // A selector the domain types would never build, sent on the raw stub: SPIRE refuses it too.
    let raw_selector = |kind: &str, value: &str| types::Selector { r#type: kind.into(), value: value.into() };
    let wire_id = |path: &str| types::Spiffeid { trust_domain: td.into(), path: path.into() };
    let mut stub = EntryClient::new(spire.channel());
    for (kind, value) in [("", "x"), ("k8s", "")] {
        let request = rpc::BatchCreateEntryRequest {
            entries: vec![types::Entry {
                spiffe_id: Some(wire_id("/raw")),
                parent_id: Some(wire_id(parent.path())),
                selectors: vec![raw_selector(kind, value)],
                ..Default::default()
            }],
            output_mask: None,
        };
        let result = stub.batch_create_entry(request).await.unwrap().into_inner().results.remove(0);
        let status = result.status.unwrap();
        assert_eq!(Code::from_i32(status.code), Code::InvalidArgument, "{kind}:{value} -> {}", status.message);
    }
    clean_up(&spire, &parent).await;
}

#[tokio::test]
async fn federation_relationships_round_trip() {
    let bed = testbed();
    let spire = bed.spire();
    let foreign = TrustDomain::parse(&format!("{}.test", unique("fed"))).unwrap();
    // A loopback URL: SPIRE's periodic bundle refresh never leaves the machine.
    let web = FederationRelationship {
        trust_domain: foreign.clone(),
        bundle_endpoint_url: "https://127.0.0.1:1/bundle".into(),
        profile: BundleEndpointProfile::HttpsWeb,
        trust_domain_bundle: None,
    };
    let created = spire.batch_create_federation_relationships(std::slice::from_ref(&web)).await.unwrap();
    assert_eq!(created[0].as_ref().unwrap().trust_domain, foreign);

    let again = spire.batch_create_federation_relationships(std::slice::from_ref(&web)).await.unwrap();
    // A second relationship for the same trust domain is refused per item; SPIRE reports the
    // datastore's unique constraint as INTERNAL rather than ALREADY_EXISTS.
    let refused = again[0].as_ref().unwrap_err();
    assert_eq!(refused.code, Code::Internal, "{refused}");
    assert!(refused.message.contains("UNIQUE"), "{refused}");

    let listed = spire.list_federation_relationships().await.unwrap();
    assert!(listed.iter().any(|r| r.trust_domain == foreign && r.profile == BundleEndpointProfile::HttpsWeb));

    // Switch to https_spiffe with a bootstrap bundle: the server's own CA stands in for the
    // foreign domain's.
    let own = spire.get_bundle().await.unwrap();
    assert!(!own.x509_authorities.is_empty());
    let bundle = spire_steward::spire::Bundle {
        trust_domain: Some(foreign.clone()),
        x509_authorities: own.x509_authorities.clone(),
        ..Default::default()
    };
    let endpoint_id = SpiffeId::parse(&format!("spiffe://{foreign}/spire/server")).unwrap();
    let spiffe = FederationRelationship {
        bundle_endpoint_url: "https://127.0.0.1:2/bundle".into(),
        profile: BundleEndpointProfile::HttpsSpiffe { endpoint_spiffe_id: endpoint_id.clone() },
        trust_domain_bundle: Some(bundle),
        ..web.clone()
    };
    let updated = spire.batch_update_federation_relationships(&[spiffe], RelationshipMask::all()).await.unwrap();
    let updated = updated[0].as_ref().unwrap();
    assert_eq!(updated.bundle_endpoint_url, "https://127.0.0.1:2/bundle");

    let read = spire.get_federation_relationship(&foreign).await.unwrap();
    assert_eq!(read.profile, BundleEndpointProfile::HttpsSpiffe { endpoint_spiffe_id: endpoint_id });
    let stored = read.trust_domain_bundle.expect("the bundle is stored");
    assert_eq!(stored.x509_authorities, own.x509_authorities);

    // A URL-only update leaves the profile alone.
    let url_only = FederationRelationship { bundle_endpoint_url: "https://127.0.0.1:3/bundle".into(), ..web.clone() };
    let mask = RelationshipMask { bundle_endpoint_url: true, ..Default::default() };
    spire.batch_update_federation_relationships(&[url_only], mask).await.unwrap()[0].as_ref().unwrap();
    let read = spire.get_federation_relationship(&foreign).await.unwrap();
    assert_eq!(read.bundle_endpoint_url, "https://127.0.0.1:3/bundle");
    assert!(matches!(read.profile, BundleEndpointProfile::HttpsSpiffe { .. }));

    let deleted = spire.batch_delete_federation_relationships(std::slice::from_ref(&foreign)).await.unwrap();
    assert_eq!(deleted, vec![Ok(())]);
    let gone = spire.get_federation_relationship(&foreign).await.unwrap_err();
    assert_eq!(gone.code(), Code::NotFound);
}

#[tokio::test]
async fn a_stopped_server_fails_within_the_deadline() {
    let server = support::PrivateSpireServer::start(testbed());
    let deadline = Duration::from_secs(2);
    let spire = SpireClient::new(ClientConfig::new(server.socket()).with_call_timeout(deadline));
    spire.get_bundle().await.expect("the private server answers while it runs");

    // A server that accepts connections but never answers: the deadline ends the call.
    let pid = server.pid();
    let signal = |sig: &str| {
        assert!(std::process::Command::new("kill").args([sig, &pid]).status().unwrap().success());
    };
    assert_eq!(std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap().trim(), "spire-server");
    signal("-STOP");
    // Wait until every thread of the server has stopped before calling it.
    let stopped = support::eventually(Duration::from_secs(5), || {
        let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let stopped = state.rsplit(')').next().is_some_and(|rest| rest.trim_start().starts_with('T'));
        async move { stopped.then_some(()) }
    })
    .await;
    assert!(stopped.is_some(), "the server did not stop");
    let started = std::time::Instant::now();
    let hung = spire.get_bundle().await.unwrap_err();
    let took = started.elapsed();
    signal("-CONT");
    assert_eq!(hung.code(), Code::DeadlineExceeded, "{hung}");
    assert!(took >= deadline && took < deadline + Duration::from_secs(1), "failed after {took:?}");
    spire.get_bundle().await.expect("the server answers again once resumed");

    server.run("stop");
    let started = std::time::Instant::now();
    let err = spire.get_bundle().await.unwrap_err();
    let took = started.elapsed();
    assert!(err.is_unavailable(), "{err}");
    assert_eq!(err.code(), Code::Unavailable, "{err}");
    assert!(took < deadline + Duration::from_secs(1), "failed after {took:?}");
}
