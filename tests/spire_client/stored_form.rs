//! What SPIRE stores and what it answers, on the real server: the order of DNS names and
//! federated trust domains, and items SPIRE accepts that the operator's domain types refuse.

use std::collections::HashSet;

use spire_steward::{
    reconcile::{EntryIndex, Ownership},
    spiffe::{self, Entry, EntryId, TrustDomain},
    spire::{
        BundleEndpointProfile, ClientConfig, CreateOutcome, EntryField, EntryMask, FederationRelationship, ParseError,
        SpireClient,
        proto::{
            entry as rpc, entry::entry_client::EntryClient, trustdomain as td_rpc,
            trustdomain::trust_domain_client::TrustDomainClient, types,
        },
    },
};
use tonic::Code;

use super::{by_parent, clean_up, created, entry, support, test_parent};
use crate::support::{testbed, unique};

/// Creates a federation relationship (and with it a bundle, the server's own CA standing in for
/// the foreign one) for each name, so that entries may federate with them.
async fn federated_domains(spire: &SpireClient, prefixes: &[&str]) -> Vec<TrustDomain> {
    let own = spire.get_bundle().await.unwrap();
    let mut domains = Vec::new();
    for prefix in prefixes {
        let domain = TrustDomain::parse(&format!("{prefix}-{}.test", unique("fed"))).unwrap();
        let relationship = FederationRelationship {
            trust_domain: domain.clone(),
            bundle_endpoint_url: "https://127.0.0.1:1/bundle".into(),
            profile: BundleEndpointProfile::HttpsWeb,
            trust_domain_bundle: Some(spire_steward::spire::Bundle {
                trust_domain: Some(domain.clone()),
                x509_authorities: own.x509_authorities.clone(),
                ..Default::default()
            }),
        };
        spire.batch_create_federation_relationships(&[relationship]).await.unwrap()[0].as_ref().unwrap();
        domains.push(domain);
    }
    domains
}

fn names(names: &[&str]) -> Vec<String> {
    names.iter().map(|n| n.to_string()).collect()
}

/// What SPIRE does with the order of DNS names and federated trust domains, on the raw API.
#[tokio::test]
async fn spire_answers_writes_with_sorted_dns_names_but_stores_them_as_written() {
    let bed = testbed();
    let spire = bed.spire();
    let td = bed.trust_domain();
    let parent = test_parent(td);
    let domains = federated_domains(&spire, &["zz", "aa"]).await;
    let mut stub = EntryClient::new(spire.channel());
    let mut wanted = entry(td, &parent, &unique("order"), &["unix:uid:1"]);
    wanted.dns_names = names(&["z.example", "a.example", "m.example"]);
    wanted.federates_with = domains.clone();
    let id = wanted.id.clone().unwrap();
    let wire_id = |path: &str| types::Spiffeid { trust_domain: td.into(), path: path.into() };
    let wire = types::Entry {
        id: id.to_string(),
        spiffe_id: Some(wire_id(wanted.spiffe_id.path())),
        parent_id: Some(wire_id(parent.path())),
        selectors: vec![types::Selector { r#type: "unix".into(), value: "uid:1".into() }],
        dns_names: wanted.dns_names.clone(),
        federates_with: domains.iter().map(|d| d.to_string()).collect(),
        ..Default::default()
    };
    let stored_order = |stub: &mut EntryClient<_>| {
        let request = rpc::GetEntryRequest { id: id.to_string(), output_mask: None };
        let mut stub = stub.clone();
        async move { stub.get_entry(request).await.unwrap().into_inner() }
    };
    let sorted_federation: Vec<String> = {
        let mut v: Vec<String> = domains.iter().map(|d| d.as_str().to_owned()).collect();
        v.sort();
        v
    };

    // BatchCreateEntry answers with the DNS names sorted ...
    let request = rpc::BatchCreateEntryRequest { entries: vec![wire.clone()], output_mask: None };
    let result = stub.batch_create_entry(request).await.unwrap().into_inner().results.remove(0);
    assert_eq!(result.status.unwrap().code, 0);
    let answered = result.entry.unwrap();
    assert_eq!(answered.dns_names, names(&["a.example", "m.example", "z.example"]));
    assert_eq!(answered.federates_with, sorted_federation, "federated domains come back sorted too");
    // ... but stores, gets and lists them in the order written, so the first declared name stays
    // first (it is the X509-SVID's common name).
    let read = stored_order(&mut stub).await;
    assert_eq!(read.dns_names, wanted.dns_names);
    assert_eq!(read.federates_with, sorted_federation, "federated domains are kept as a sorted set");
    let listed = spire.list_entries(&by_parent(&parent), 10).await.unwrap();
    assert_eq!(listed[0].dns_names, wanted.dns_names);

    // BatchUpdateEntry: the same, whether or not the update writes the DNS names.
    let dns_mask = |dns_names| types::EntryMask { dns_names, hint: true, ..Default::default() };
    let update = |dns: &[&str], mask| rpc::BatchUpdateEntryRequest {
        entries: vec![types::Entry { dns_names: names(dns), hint: "h".into(), ..wire.clone() }],
        input_mask: Some(mask),
        output_mask: None,
    };
    let result = stub.batch_update_entry(update(&["q.example", "b.example", "y.example"], dns_mask(true))).await;
    let answered = result.unwrap().into_inner().results.remove(0).entry.unwrap();
    assert_eq!(answered.dns_names, names(&["b.example", "q.example", "y.example"]));
    assert_eq!(stored_order(&mut stub).await.dns_names, names(&["q.example", "b.example", "y.example"]));
    let result = stub.batch_update_entry(update(&["q.example", "b.example", "y.example"], dns_mask(false))).await;
    let answered = result.unwrap().into_inner().results.remove(0).entry.unwrap();
    assert_eq!(answered.dns_names, names(&["b.example", "q.example", "y.example"]), "even when they are not written");
    assert_eq!(stored_order(&mut stub).await.dns_names, names(&["q.example", "b.example", "y.example"]));

    // A DNS name given twice is refused: SPIRE keeps DNS names as a set.
    let result = stub.batch_update_entry(update(&["d.example", "d.example"], dns_mask(true))).await;
    let status = result.unwrap().into_inner().results.remove(0).status.unwrap();
    assert_eq!(Code::from_i32(status.code), Code::AlreadyExists, "{}", status.message);
    assert!(status.message.contains("UNIQUE"), "{}", status.message);

    // ALREADY_EXISTS answers with the stored entry, in the stored order.
    let similar = Entry { id: None, ..wanted.clone() };
    match spire.batch_create_entries(&[similar]).await.unwrap().remove(0) {
        CreateOutcome::AlreadyExists(existing) => {
            assert_eq!(existing.dns_names, names(&["q.example", "b.example", "y.example"]))
        }
        other => panic!("expected AlreadyExists, got {other:?}"),
    }
    clean_up(&spire, &parent).await;
    spire.batch_delete_federation_relationships(&domains).await.unwrap();
}

/// The client hands back written entries in the stored order, so an index built from write
/// results agrees with the next listing.
#[tokio::test]
async fn written_entries_agree_with_the_listing() {
    let bed = testbed();
    let spire = bed.spire();
    let td = bed.trust_domain();
    let parent = test_parent(td);
    let domains = federated_domains(&spire, &["zz", "aa"]).await;
    let ownership = Ownership::new("spire-steward-test", vec![]);
    let listing = || {
        let spire = spire.clone();
        let filter = by_parent(&parent);
        async move { spire.list_entries(&filter, 10).await.unwrap() }
    };

    let mut wanted = entry(td, &parent, &unique("web"), &["k8s:ns:shop", "k8s:sa:web"]);
    wanted.dns_names = names(&["z.example", "a.example", "m.example"]);
    wanted.federates_with = domains.clone();
    let stored = created(spire.batch_create_entries(std::slice::from_ref(&wanted)).await.unwrap().remove(0));
    assert_eq!(stored.dns_names, wanted.dns_names, "the stored order, not the sorted answer");
    let mut index = EntryIndex::default();
    index.insert(stored);
    let drift = index.drift(&listing().await, &ownership);
    assert!(drift.is_empty(), "{drift:?}");

    // An update that leaves the DNS names alone, one that changes the first name, and one that
    // changes nothing (a revision bump only): none is drift once indexed.
    let masks = [
        [EntryField::Hint].into_iter().collect::<EntryMask>(),
        [EntryField::DnsNames].into_iter().collect(),
        [EntryField::Hint].into_iter().collect(),
    ];
    let mut change = wanted.clone();
    for (step, mask) in masks.into_iter().enumerate() {
        match step {
            0 => change.hint = "web".into(),
            1 => change.dns_names = names(&["a.example", "z.example", "m.example"]),
            _ => {}
        }
        let updated = spire.batch_update_entries(std::slice::from_ref(&change), mask).await.unwrap().remove(0);
        index.insert(updated.unwrap());
        let now = listing().await;
        let drift = index.drift(&now, &ownership);
        assert!(drift.is_empty(), "step {step}: {drift:?}");
        assert_eq!(now[0].dns_names, change.dns_names, "step {step}");
        assert_eq!(now[0].revision_number, step as i64 + 1);
    }

    // A change made behind the index's back is still drift.
    let mut behind = change.clone();
    behind.x509_svid_ttl = 77;
    let ttl: EntryMask = [EntryField::X509SvidTtl].into_iter().collect();
    spire.batch_update_entries(&[behind], ttl).await.unwrap().remove(0).unwrap();
    let drift = index.drift(&listing().await, &ownership);
    assert_eq!(drift.modified.len(), 1, "{drift:?}");
    assert_eq!(drift.modified[0].1.x509_svid_ttl, 77);

    clean_up(&spire, &parent).await;
    spire.batch_delete_federation_relationships(&domains).await.unwrap();
}

/// SPIRE takes trust domain names of any length (go-spiffe sets no limit); the operator's
/// domain types refuse names longer than 255 characters. Such a relationship, and an entry
/// federating with it, must not keep the operator from reading everything else. A server of
/// the test's own keeps the unreadable items away from the other tests' strict listings.
#[tokio::test]
async fn lenient_listings_read_past_items_spire_accepts_and_the_operator_refuses() {
    let bed = testbed();
    let server = support::PrivateSpireServer::start(bed);
    let spire = SpireClient::new(ClientConfig::new(server.socket()));
    let td = "example.org";
    let parent = test_parent(td);
    let long = support::overlong_trust_domain(&spire).await;
    assert!(long.len() > 255 && TrustDomain::parse(&long).is_err());

    let good: Vec<Entry> = ["a", "b"].iter().map(|p| entry(td, &parent, &unique(p), &["unix:uid:1"])).collect();
    for outcome in spire.batch_create_entries(&good).await.unwrap() {
        created(outcome);
    }
    let odd_id = format!("spire-steward-test.{}", unique("odd"));
    let odd_path = format!("/{}", unique("odd"));
    let wire_id = |path: &str| types::Spiffeid { trust_domain: td.into(), path: path.into() };
    let request = rpc::BatchCreateEntryRequest {
        entries: vec![types::Entry {
            id: odd_id.clone(),
            spiffe_id: Some(wire_id(&odd_path)),
            parent_id: Some(wire_id(parent.path())),
            selectors: vec![types::Selector { r#type: "unix".into(), value: "uid:2".into() }],
            federates_with: vec![long.clone()],
            ..Default::default()
        }],
        output_mask: None,
    };
    let result = EntryClient::new(spire.channel()).batch_create_entry(request).await.unwrap().into_inner();
    let status = result.results[0].status.clone().unwrap();
    assert_eq!(status.code, 0, "SPIRE accepts an entry federating with it: {}", status.message);

    // The strict listings fail as a whole ...
    let strict = spire.list_entries(&by_parent(&parent), 10).await.unwrap_err();
    assert_eq!(strict.method(), "ListEntries", "{strict}");
    assert!(strict.to_string().contains(&odd_id), "{strict}");
    spire.list_federation_relationships().await.unwrap_err();

    // ... the lenient ones return every other item and report the refused one by its IDs.
    let listing = spire.list_entries_lenient(&by_parent(&parent), 1).await.unwrap();
    let read: HashSet<EntryId> = listing.entries.iter().map(|e| e.id.clone().unwrap()).collect();
    assert_eq!(read, good.iter().map(|e| e.id.clone().unwrap()).collect());
    assert_eq!(listing.unparsed.len(), 1, "{:?}", listing.unparsed);
    let unparsed = &listing.unparsed[0];
    assert_eq!(unparsed.id, odd_id);
    assert_eq!(unparsed.spiffe_id, format!("spiffe://{td}{odd_path}"));
    assert_eq!(
        unparsed.reason,
        ParseError::Invalid { field: "federates_with", source: spiffe::Error::TrustDomainTooLong }
    );
    let relationships = spire.list_federation_relationships_lenient().await.unwrap();
    assert!(relationships.relationships.is_empty(), "{:?}", relationships.relationships);
    assert_eq!(relationships.unparsed.len(), 1);
    assert_eq!(relationships.unparsed[0].trust_domain, long);
    assert_eq!(
        relationships.unparsed[0].reason,
        ParseError::Invalid { field: "trust_domain", source: spiffe::Error::TrustDomainTooLong }
    );

    // The refused entry can still be deleted by its ID.
    let ids: Vec<EntryId> = read.into_iter().chain([EntryId::parse(&odd_id).unwrap()]).collect();
    for result in spire.batch_delete_entries(&ids).await.unwrap() {
        result.unwrap();
    }
    let request = td_rpc::BatchDeleteFederationRelationshipRequest { trust_domains: vec![long] };
    TrustDomainClient::new(spire.channel()).batch_delete_federation_relationship(request).await.unwrap();
    assert!(spire.list_federation_relationships().await.unwrap().is_empty());
}
