//! The operator binary against the real kube-apiserver and spire-server: pods and resources in,
//! SPIRE entries and status out.

mod support;

use std::{collections::BTreeSet, time::Duration};

use serde_json::json;
use spire_steward::{
    spiffe::{Entry, EntryId, Selector, SpiffeId},
    spire::{CreateOutcome, EntryField, EntryMask},
};
use support::{
    PrivateSpireServer, eventually,
    operator::{Operator, World, entries},
    testbed,
};

const WAIT: Duration = Duration::from_secs(30);

fn ids(entries: &[Entry]) -> BTreeSet<String> {
    entries.iter().filter_map(|e| e.id.as_ref()).map(|id| id.as_str().to_owned()).collect()
}

fn selectors(entry: &Entry) -> Vec<String> {
    entry.selectors.iter().map(ToString::to_string).collect()
}

/// Waits until the test's entries satisfy `check`, and returns them.
async fn wait_for(
    spire: &spire_steward::spire::SpireClient,
    world: &World,
    operator: &Operator,
    what: &str,
    check: impl Fn(&[Entry]) -> bool,
) -> Vec<Entry> {
    let found = eventually(WAIT, || async {
        let now = entries(spire, &world.prefix).await;
        check(&now).then_some(now)
    })
    .await;
    match found {
        Some(entries) => entries,
        None => panic!(
            "timed out waiting for {what}; entries: {:#?}\noperator log:\n{}",
            entries(spire, &world.prefix).await,
            operator.log_text()
        ),
    }
}

/// Waits for an Event about the named object with this reason.
async fn wait_event(world: &World, name: &str, reason: &str) -> k8s_openapi::api::events::v1::Event {
    let events: kube::Api<k8s_openapi::api::events::v1::Event> = kube::Api::all(world.client.clone());
    let selector = format!("regarding.name={name}");
    let found = eventually(WAIT, || async {
        let list = events.list(&kube::api::ListParams::default().fields(&selector)).await.ok()?;
        list.items.into_iter().find(|e| e.reason.as_deref() == Some(reason))
    })
    .await;
    found.unwrap_or_else(|| panic!("no {reason} Event about {name}"))
}

#[tokio::test]
async fn pods_get_entries_that_follow_relabels_and_deletes() {
    let bed = testbed();
    let spire = bed.spire();
    let mut world = World::new(bed).await;
    let node_uid = world.node("node").await;
    world
        .apply(
            "ClusterSPIFFEID",
            &format!("web-{}", world.id),
            json!({
                "className": world.class,
                "spiffeIDTemplate": "spiffe://{{ .TrustDomain }}/ns/{{ .PodMeta.Namespace }}/app/{{ index .PodMeta.Labels \"app\" }}",
                "namespaceSelector": world.namespace_selector(),
                "podSelector": { "matchExpressions": [{ "key": "app", "operator": "Exists" }] },
                "workloadSelectorTemplates": ["k8s:ns:{{ .PodMeta.Namespace }}"],
                "dnsNameTemplates": ["{{ .PodMeta.Name }}.{{ .PodMeta.Namespace }}.svc"],
                "ttl": "1h",
                "jwtTtl": "5m",
                "hint": "web",
            }),
        )
        .await;
    let web1 = world.pod("web-1", &[("app", "web")], Some("node")).await;
    let web2 = world.pod("web-2", &[("app", "api")], Some("node")).await;
    let operator = Operator::start(bed, &world, &bed.spire_socket(), "");

    let found = wait_for(&spire, &world, &operator, "two pod entries", |e| e.len() == 2).await;
    let ns = &world.namespace;
    let web = found.iter().find(|e| e.spiffe_id.path().ends_with("/app/web")).expect("the web entry");
    assert_eq!(web.spiffe_id.to_string(), format!("spiffe://example.org/ns/{ns}/app/web"));
    assert_eq!(web.parent_id.to_string(), format!("spiffe://example.org/spire/agent/k8s_psat/test/{node_uid}"));
    assert_eq!(selectors(web), [format!("k8s:pod-uid:{web1}"), format!("k8s:ns:{ns}")].map(|s| s.to_string()));
    assert_eq!(web.dns_names, [format!("web-1.{ns}.svc")]);
    assert_eq!((web.x509_svid_ttl, web.jwt_svid_ttl), (3600, 300));
    assert_eq!(web.hint, "web");
    assert!(web.id.as_ref().unwrap().as_str().starts_with(&format!("{}.", world.prefix)));
    let csid = format!("web-{}", world.id);
    let message = world.wait_ready(&operator, "ClusterSPIFFEID", &csid, ("True", "Synced")).await;
    assert!(message.contains("2 entries"), "{message}");
    let status = world.status("ClusterSPIFFEID", &csid).await;
    assert_eq!(status["stats"]["podsSelected"], 2, "{status}");
    assert_eq!(status["stats"]["entriesToSet"], 2, "{status}");
    assert_eq!(status["observedGeneration"], 1, "{status}");

    // A label the SPIFFE ID depends on changes: the old entry goes, a new one comes.
    world.relabel("web-2", &[("app", "api-v2")]).await;
    let after = wait_for(&spire, &world, &operator, "the relabelled entry", |e| {
        e.len() == 2 && e.iter().any(|e| e.spiffe_id.path().ends_with("/app/api-v2"))
    })
    .await;
    assert!(after.iter().all(|e| !e.spiffe_id.path().ends_with("/app/api")));
    assert!(after.iter().any(|e| selectors(e)[0] == format!("k8s:pod-uid:{web2}")));

    // The pod is no longer selected: its entry goes.
    world.relabel("web-2", &[("tier", "none")]).await;
    wait_for(&spire, &world, &operator, "one entry left", |e| e.len() == 1).await;

    // The pod is deleted (at once: no kubelet confirms a graceful deletion): its entry goes.
    world
        .pods()
        .delete("web-1", &kube::api::DeleteParams { grace_period_seconds: Some(0), ..Default::default() })
        .await
        .unwrap();
    wait_for(&spire, &world, &operator, "no entries", |e| e.is_empty()).await;
    // Every write is logged with the entry, its SPIFFE ID and the resource that declared it.
    let log = operator.log_text();
    let deletes: Vec<&str> = log.lines().filter(|l| l.contains("deleted entry")).collect();
    assert_eq!(deletes.len(), 3, "{log}");
    assert!(deletes.iter().all(|l| l.contains(&format!("owner={csid}")) && l.contains("spiffe_id=")), "{log}");
    world.clean_up().await;
}

#[tokio::test]
async fn static_entries_mask_by_age_and_report_it() {
    let bed = testbed();
    let spire = bed.spire();
    let world = World::new(bed).await;
    let spec = |hint: &str| {
        json!({
            "className": world.class,
            "spiffeID": format!("spiffe://example.org/static/{}", world.id),
            "parentID": "spiffe://example.org/spire/agent/x509pop/db-01",
            "selectors": ["unix:uid:999", "unix:gid:999"],
            "x509SVIDTTL": "12h",
            "dnsNames": ["db.example.org"],
            "hint": hint,
        })
    };
    let first = format!("first-{}", world.id);
    let second = format!("second-{}", world.id);
    world.apply("ClusterStaticEntry", &first, spec("first")).await;
    let operator = Operator::start(bed, &world, &bed.spire_socket(), "");
    let found = wait_for(&spire, &world, &operator, "the static entry", |e| e.len() == 1).await;
    assert_eq!(found[0].x509_svid_ttl, 43_200);
    assert_eq!(found[0].hint, "first");
    world.wait_ready(&operator, "ClusterStaticEntry", &first, ("True", "Synced")).await;
    let status = world.status("ClusterStaticEntry", &first).await;
    assert_eq!(status["set"], true, "{status}");
    assert_eq!(status["entryID"], found[0].id.as_ref().unwrap().as_str(), "{status}");

    // A younger resource declaring the same entry is masked and says so.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    world.apply("ClusterStaticEntry", &second, spec("second")).await;
    world.wait_ready(&operator, "ClusterStaticEntry", &second, ("False", "Masked")).await;
    assert_eq!(entries(&spire, &world.prefix).await[0].hint, "first");

    // The older one goes: the younger one takes over the same entry in place.
    world.delete("ClusterStaticEntry", &first).await;
    let taken = wait_for(&spire, &world, &operator, "the second declaration's values", |e| {
        e.len() == 1 && e[0].hint == "second"
    })
    .await;
    assert_eq!(taken[0].id, found[0].id, "updated in place, not re-created");
    world.wait_ready(&operator, "ClusterStaticEntry", &second, ("True", "Synced")).await;

    world.delete("ClusterStaticEntry", &second).await;
    wait_for(&spire, &world, &operator, "no entries", |e| e.is_empty()).await;
    world.clean_up().await;
}

#[tokio::test]
async fn foreign_entries_are_left_alone_and_drift_is_restored() {
    let bed = testbed();
    let spire = bed.spire();
    let world = World::new(bed).await;
    let parent = format!("spiffe://example.org/spire/agent/x509pop/{}", world.id);
    world
        .apply(
            "ClusterStaticEntry",
            &format!("owned-{}", world.id),
            json!({
                "className": world.class,
                "spiffeID": format!("spiffe://example.org/owned/{}", world.id),
                "parentID": parent,
                "selectors": ["unix:uid:1"],
                "hint": "declared",
            }),
        )
        .await;
    // An entry another tool made under the same parent.
    let mut foreign = Entry::new(
        SpiffeId::parse(&format!("spiffe://example.org/manual/{}", world.id)).unwrap(),
        SpiffeId::parse(&parent).unwrap(),
        vec![Selector::parse("unix:uid:2").unwrap()],
    );
    foreign.id = Some(EntryId::parse(&format!("manual.{}", world.id)).unwrap());
    assert!(matches!(
        spire.batch_create_entries(std::slice::from_ref(&foreign)).await.unwrap()[0],
        CreateOutcome::Created(_)
    ));

    let operator = Operator::start(bed, &world, &bed.spire_socket(), "");
    let owned = wait_for(&spire, &world, &operator, "the owned entry", |e| e.len() == 1).await.remove(0);

    // Edited behind the operator's back: the periodic check restores it.
    let mut edited = owned.clone();
    edited.hint = "edited by hand".into();
    let mask: EntryMask = [EntryField::Hint].into_iter().collect();
    spire.batch_update_entries(&[edited], mask).await.unwrap().remove(0).unwrap();
    wait_for(&spire, &world, &operator, "the hint restored", |e| e.len() == 1 && e[0].hint == "declared").await;

    // Deleted behind the operator's back: the periodic check re-creates it under the same ID.
    spire.batch_delete_entries(&[owned.id.clone().unwrap()]).await.unwrap().remove(0).unwrap();
    let restored = wait_for(&spire, &world, &operator, "the entry re-created", |e| e.len() == 1).await;
    assert_eq!(restored[0].id, owned.id);

    // The foreign entry was never touched.
    let still = spire.get_entry(foreign.id.as_ref().unwrap()).await.unwrap();
    assert_eq!(still.revision_number, 0);
    spire.batch_delete_entries(&[foreign.id.clone().unwrap()]).await.unwrap();
}

#[tokio::test]
async fn a_broken_template_keeps_the_entries_and_reports_stalled() {
    let bed = testbed();
    let spire = bed.spire();
    let mut world = World::new(bed).await;
    world.node("node").await;
    let csid = format!("tmpl-{}", world.id);
    let spec = |template: &str| {
        json!({
            "className": world.class,
            "spiffeIDTemplate": template,
            "namespaceSelector": world.namespace_selector(),
        })
    };
    world
        .apply("ClusterSPIFFEID", &csid, spec("spiffe://{{ .TrustDomain }}/sa/{{ .PodSpec.ServiceAccountName }}"))
        .await;
    world.pod("p-1", &[("app", "x")], Some("node")).await;
    let operator = Operator::start(bed, &world, &bed.spire_socket(), "");
    let before = wait_for(&spire, &world, &operator, "the pod entry", |e| e.len() == 1).await;

    // Fails to render for every pod: nothing is deleted, the resource is Stalled.
    world
        .apply("ClusterSPIFFEID", &csid, spec("spiffe://{{ .TrustDomain }}/c/{{ (index .PodSpec.Containers 5).Name }}"))
        .await;
    let message = world.wait_ready(&operator, "ClusterSPIFFEID", &csid, ("False", "InvalidSpec")).await;
    assert!(message.contains("1 of 1 selected pods failed to render"), "{message}");
    assert!(message.contains("index"), "{message}");
    // kubectl describe tells the story: a Warning Event with the condition's reason.
    let event = wait_event(&world, &csid, "InvalidSpec").await;
    assert_eq!(event.type_.as_deref(), Some("Warning"));
    assert!(event.note.unwrap_or_default().contains("failed to render"));
    let stalled = world.condition("ClusterSPIFFEID", &csid, "Stalled").await;
    assert_eq!(stalled.map(|c| c.0), Some("True".into()));
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(ids(&entries(&spire, &world.prefix).await), ids(&before), "entries kept while the template is broken");

    // Fixed: the new identity replaces the old, and Stalled goes away.
    world.apply("ClusterSPIFFEID", &csid, spec("spiffe://{{ .TrustDomain }}/pod/{{ .PodMeta.Name }}")).await;
    wait_for(&spire, &world, &operator, "the new identity", |e| e.len() == 1 && e[0].spiffe_id.path() == "/pod/p-1")
        .await;
    world.wait_ready(&operator, "ClusterSPIFFEID", &csid, ("True", "Synced")).await;
    assert_eq!(world.condition("ClusterSPIFFEID", &csid, "Stalled").await, None);

    // A template that does not even parse: reported the same way, and the entry is kept.
    let kept = entries(&spire, &world.prefix).await;
    world.apply("ClusterSPIFFEID", &csid, spec("spiffe://{{ .TrustDomain }}/pod/{{ .PodMeta.Name")).await;
    let message = world.wait_ready(&operator, "ClusterSPIFFEID", &csid, ("False", "InvalidSpec")).await;
    assert!(message.contains("spiffeIDTemplate") && message.contains("parse error"), "{message}");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        ids(&entries(&spire, &world.prefix).await),
        ids(&kept),
        "entries kept while the template does not parse"
    );
    world.clean_up().await;
}

#[tokio::test]
async fn a_restarted_operator_rewrites_nothing() {
    let bed = testbed();
    let spire = bed.spire();
    let mut world = World::new(bed).await;
    world.node("node").await;
    let csid = format!("restart-{}", world.id);
    world
        .apply(
            "ClusterSPIFFEID",
            &csid,
            json!({
                "className": world.class,
                "spiffeIDTemplate": "spiffe://{{ .TrustDomain }}/pod/{{ .PodMeta.Name }}",
                "namespaceSelector": world.namespace_selector(),
                "dnsNameTemplates": ["b.example", "a.example"],
                "federatesWith": [],
            }),
        )
        .await;
    for i in 0..3 {
        world.pod(&format!("p-{i}"), &[], Some("node")).await;
    }
    let mut operator = Operator::start(bed, &world, &bed.spire_socket(), "");
    let before = wait_for(&spire, &world, &operator, "three entries", |e| e.len() == 3).await;
    world.wait_ready(&operator, "ClusterSPIFFEID", &csid, ("True", "Synced")).await;
    operator.stop();

    let operator = Operator::start(bed, &world, &bed.spire_socket(), "");
    tokio::time::sleep(Duration::from_secs(4)).await;
    let after = entries(&spire, &world.prefix).await;
    assert_eq!(after, before, "same IDs, same values, same revision numbers\nlog:\n{}", operator.log_text());
    assert!(!operator.log_text().contains("created entry"), "{}", operator.log_text());
    world.clean_up().await;
}

#[tokio::test]
async fn spire_down_and_back_loses_nothing() {
    let bed = testbed();
    let server = PrivateSpireServer::start(bed);
    let spire = spire_steward::spire::SpireClient::new(spire_steward::spire::ClientConfig::new(server.socket()));
    let world = World::with_one_pod(bed, "down").await;
    let operator = Operator::start(bed, &world, &server.socket(), "");
    wait_for(&spire, &world, &operator, "the first entry", |e| e.len() == 1).await;

    server.run("stop");
    world.pod("p-2", &[], Some("node")).await;
    let csid = world.identity_name("down");
    world.wait_ready(&operator, "ClusterSPIFFEID", &csid, ("False", "SpireUnavailable")).await;
    server.run("start");
    let back = wait_for(&spire, &world, &operator, "both entries after SPIRE returns", |e| e.len() == 2).await;
    assert!(back.iter().any(|e| e.spiffe_id.path() == "/pod/p-2"));
    world.wait_ready(&operator, "ClusterSPIFFEID", &csid, ("True", "Synced")).await;
    world.clean_up().await;
}

#[tokio::test]
async fn federation_relationships_follow_their_resources() {
    use base64::Engine;
    use spire_steward::spiffe::TrustDomain;

    let bed = testbed();
    let spire = bed.spire();
    let world = World::new(bed).await;
    let td = format!("{}.test", world.id);
    let name = format!("fed-{}", world.id);
    // A relationship another tool made: never touched.
    let foreign_td = TrustDomain::parse(&format!("foreign-{}.test", world.id)).unwrap();
    let foreign = spire_steward::spire::FederationRelationship {
        trust_domain: foreign_td.clone(),
        bundle_endpoint_url: "https://127.0.0.1:7/bundle".into(),
        profile: spire_steward::spire::BundleEndpointProfile::HttpsWeb,
        trust_domain_bundle: None,
    };
    spire.batch_create_federation_relationships(&[foreign]).await.unwrap().remove(0).unwrap();

    let spec = |url: &str, bundle: Option<String>| {
        let mut spec = json!({
            "className": world.class,
            "trustDomain": td,
            "bundleEndpointURL": url,
            "bundleEndpointProfile": { "type": "https_web" },
        });
        if let Some(bundle) = bundle {
            spec["trustDomainBundle"] = json!(bundle);
        }
        spec
    };
    world.apply("ClusterFederatedTrustDomain", &name, spec("https://127.0.0.1:8443/a", None)).await;
    let operator = Operator::start(bed, &world, &bed.spire_socket(), "");
    let td_parsed = TrustDomain::parse(&td).unwrap();
    let get = || {
        let spire = spire.clone();
        let td = td_parsed.clone();
        async move { spire.get_federation_relationship(&td).await.ok() }
    };
    let found = eventually(WAIT, || async { get().await }).await;
    let found = found.unwrap_or_else(|| panic!("no relationship\n{}", operator.log_text()));
    assert_eq!(found.bundle_endpoint_url, "https://127.0.0.1:8443/a");
    world.wait_ready(&operator, "ClusterFederatedTrustDomain", &name, ("True", "Synced")).await;
    let object = support::operator::dynamic(&world.client, "ClusterFederatedTrustDomain").get(&name).await.unwrap();
    assert!(
        object.metadata.finalizers.unwrap_or_default().contains(&"spire-steward.io/federation-relationship".to_owned())
    );

    // An endpoint edit reaches SPIRE.
    world.apply("ClusterFederatedTrustDomain", &name, spec("https://127.0.0.1:8443/b", None)).await;
    let moved = eventually(WAIT, || async { get().await.filter(|r| r.bundle_endpoint_url.ends_with("/b")) }).await;
    assert!(moved.is_some(), "{}", operator.log_text());

    // A bundle-only edit reaches SPIRE too.
    let ca = spire.get_bundle().await.unwrap().x509_authorities.remove(0);
    let bundle = json!({
        "keys": [{ "use": "x509-svid", "kty": "EC", "x5c": [base64::engine::general_purpose::STANDARD.encode(&ca)] }],
        "spiffe_sequence": 1
    })
    .to_string();
    world.apply("ClusterFederatedTrustDomain", &name, spec("https://127.0.0.1:8443/b", Some(bundle))).await;
    let bundled = eventually(WAIT, || async {
        get().await.and_then(|r| r.trust_domain_bundle).filter(|b| b.x509_authorities.contains(&ca))
    })
    .await;
    assert!(bundled.is_some(), "{}", operator.log_text());

    // Deleting the resource deletes its relationship, then releases the resource.
    world.delete("ClusterFederatedTrustDomain", &name).await;
    let gone = eventually(WAIT, || async { get().await.is_none().then_some(()) }).await;
    assert!(gone.is_some(), "{}", operator.log_text());
    let released = eventually(WAIT, || async {
        support::operator::dynamic(&world.client, "ClusterFederatedTrustDomain")
            .get_opt(&name)
            .await
            .unwrap()
            .is_none()
            .then_some(())
    })
    .await;
    assert!(released.is_some(), "the finalizer was not released");

    assert!(spire.get_federation_relationship(&foreign_td).await.is_ok(), "the foreign relationship stays");
    spire.batch_delete_federation_relationships(&[foreign_td]).await.unwrap();
    world.clean_up().await;
}

#[tokio::test]
async fn metrics_and_probes_report_the_work() {
    use support::operator::{free_port, http_get};

    let bed = testbed();
    let spire = bed.spire();
    let world = World::with_one_pod(bed, "metrics").await;
    let (metrics_port, health_port) = (free_port(), free_port());
    let operator = Operator::start(
        bed,
        &world,
        &bed.spire_socket(),
        &format!(
            "metrics: {{bindAddress: '127.0.0.1:{metrics_port}'}}\nhealth: {{healthProbeBindAddress: '127.0.0.1:{health_port}'}}\n"
        ),
    );
    wait_for(&spire, &world, &operator, "the entry", |e| e.len() == 1).await;
    let ready =
        eventually(WAIT, || async { http_get(health_port, "/readyz").await.filter(|(code, _)| *code == 200) }).await;
    assert!(ready.is_some(), "{}", operator.log_text());
    assert_eq!(http_get(health_port, "/healthz").await.map(|r| r.0), Some(200));
    let (code, body) = http_get(metrics_port, "/metrics").await.expect("metrics answer");
    assert_eq!(code, 200);
    assert!(body.contains(r#"spire_steward_entries_written_total{operation="create"} 1"#), "{body}");
    assert!(body.contains(r#"spire_steward_spire_requests_total{method="ListEntries",code="Ok"}"#), "{body}");
    assert!(body.contains("spire_steward_pod_to_entry_seconds_count 1"), "{body}");
    assert!(body.contains("spire_steward_managed_entries 1"), "{body}");
    world.clean_up().await;
}

#[tokio::test]
async fn entries_of_an_adopted_prefix_are_taken_over_in_place() {
    let bed = testbed();
    let spire = bed.spire();
    let mut world = World::new(bed).await;
    let node_uid = world.node("node").await;
    let pod_uid = world.pod("p-1", &[], Some("node")).await;
    let old_prefix = format!("scm_{}", world.prefix);
    // What the previous operator left: the same entry this operator will declare (same key,
    // another hint), and one nothing declares any more.
    let parent = SpiffeId::parse(&format!("spiffe://example.org/spire/agent/k8s_psat/test/{node_uid}")).unwrap();
    let mut same = Entry::new(
        SpiffeId::parse("spiffe://example.org/pod/p-1").unwrap(),
        parent.clone(),
        vec![Selector::parse(&format!("k8s:pod-uid:{pod_uid}")).unwrap()],
    );
    same.id = Some(EntryId::parse(&format!("{old_prefix}.1")).unwrap());
    same.hint = "old".into();
    let mut stale = Entry::new(
        SpiffeId::parse("spiffe://example.org/pod/p-1/old").unwrap(),
        parent,
        vec![Selector::parse(&format!("k8s:pod-uid:{pod_uid}")).unwrap()],
    );
    stale.id = Some(EntryId::parse(&format!("{old_prefix}.2")).unwrap());
    for outcome in spire.batch_create_entries(&[same.clone(), stale.clone()]).await.unwrap() {
        assert!(matches!(outcome, CreateOutcome::Created(_)));
    }
    world
        .apply(
            "ClusterSPIFFEID",
            &format!("adopt-{}", world.id),
            json!({
                "className": world.class,
                "spiffeIDTemplate": "spiffe://{{ .TrustDomain }}/pod/{{ .PodMeta.Name }}",
                "namespaceSelector": world.namespace_selector(),
                "hint": "new",
            }),
        )
        .await;
    let operator =
        Operator::start(bed, &world, &bed.spire_socket(), &format!("adoptEntryIDPrefixes: [{old_prefix}]\n"));
    let adopted = eventually(WAIT, || async {
        let e = spire.get_entry(same.id.as_ref().unwrap()).await.ok()?;
        (e.hint == "new").then_some(e)
    })
    .await;
    assert!(adopted.is_some(), "the adopted entry was updated in place\n{}", operator.log_text());
    let gone =
        eventually(WAIT, || async { spire.get_entry(stale.id.as_ref().unwrap()).await.is_err().then_some(()) }).await;
    assert!(gone.is_some(), "the undeclared adopted entry is removed\n{}", operator.log_text());
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(entries(&spire, &world.prefix).await.is_empty(), "nothing re-created under the new prefix");
    spire.batch_delete_entries(&[same.id.clone().unwrap()]).await.unwrap();
    world.clean_up().await;
}

#[tokio::test]
async fn a_standby_takes_over_when_the_leader_dies() {
    let bed = testbed();
    let spire = bed.spire();
    let world = World::with_one_pod(bed, "ha").await;
    let lease = world.lease();
    let election = format!(
        "leaderElection: {{leaderElect: true, resourceName: {lease}, resourceNamespace: {}, leaseDuration: 3s, renewDeadline: 2s, retryPeriod: 500ms}}\n",
        world.namespace
    );
    let mut first = Operator::start_replica(bed, &world, &bed.spire_socket(), &election, "a");
    wait_for(&spire, &world, &first, "the first entry", |e| e.len() == 1).await;
    let mut second = Operator::start_replica(bed, &world, &bed.spire_socket(), &election, "b");

    let leases: kube::Api<k8s_openapi::api::coordination::v1::Lease> =
        kube::Api::namespaced(world.client.clone(), &world.namespace);
    let holder = || async { leases.get_opt(&lease).await.ok().flatten().and_then(|l| l.spec?.holder_identity) };
    assert_eq!(holder().await.as_deref(), Some(format!("{}-a", world.id).as_str()));
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(second.log_text().contains("standing by"), "{}", second.log_text());
    assert!(!second.log_text().contains("created entry"), "the standby writes nothing");

    // The leader dies without releasing its lease: the standby takes over after it expires.
    first.kill();
    world.pod("p-2", &[], Some("node")).await;
    wait_for(&spire, &world, &second, "the entry written by the new leader", |e| e.len() == 2).await;
    assert_eq!(holder().await.as_deref(), Some(format!("{}-b", world.id).as_str()));

    // A graceful stop releases the lease.
    second.stop();
    let released =
        eventually(WAIT, || async { holder().await.filter(|h| !h.is_empty()).is_none().then_some(()) }).await;
    assert!(released.is_some(), "the lease was not released\n{}", second.log_text());
    world.clean_up().await;
}

#[tokio::test]
async fn start_up_waits_for_spire_without_crashing() {
    use support::operator::{free_port, http_get};

    let bed = testbed();
    let server = PrivateSpireServer::not_started(bed);
    let world = World::with_one_pod(bed, "wait").await;
    let health_port = free_port();
    let mut operator = Operator::start(
        bed,
        &world,
        &server.socket(),
        &format!("metrics: {{bindAddress: '0'}}\nhealth: {{healthProbeBindAddress: '127.0.0.1:{health_port}'}}\n"),
    );
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(http_get(health_port, "/healthz").await.map(|r| r.0), Some(200), "{}", operator.log_text());
    assert_eq!(http_get(health_port, "/readyz").await.map(|r| r.0), Some(503), "not ready without SPIRE");
    assert!(operator.log_text().contains("waiting for the SPIRE server"), "{}", operator.log_text());
    assert!(operator.is_running(), "the operator waits instead of exiting");

    server.run("start");
    let spire = spire_steward::spire::SpireClient::new(spire_steward::spire::ClientConfig::new(server.socket()));
    wait_for(&spire, &world, &operator, "the entry once SPIRE is up", |e| e.len() == 1).await;
    let ready = eventually(WAIT, || async { http_get(health_port, "/readyz").await.filter(|r| r.0 == 200) }).await;
    assert!(ready.is_some());
    operator.stop();
    world.clean_up().await;
}

#[tokio::test]
async fn service_names_and_fallback_identities() {
    let bed = testbed();
    let spire = bed.spire();
    let mut world = World::new(bed).await;
    world.node("node").await;
    world
        .apply(
            "ClusterSPIFFEID",
            &format!("web-{}", world.id),
            json!({
                "className": world.class,
                "spiffeIDTemplate": "spiffe://{{ .TrustDomain }}/web/{{ .PodMeta.Name }}",
                "namespaceSelector": world.namespace_selector(),
                "podSelector": { "matchLabels": { "app": "web" } },
                "autoPopulateDNSNames": true,
            }),
        )
        .await;
    world
        .apply(
            "ClusterSPIFFEID",
            &format!("fallback-{}", world.id),
            json!({
                "className": world.class,
                "spiffeIDTemplate": "spiffe://{{ .TrustDomain }}/default/{{ .PodMeta.Name }}",
                "namespaceSelector": world.namespace_selector(),
                "fallback": true,
            }),
        )
        .await;
    let web = world.pod("web-1", &[("app", "web")], Some("node")).await;
    world.pod("other-1", &[("app", "other")], Some("node")).await;
    // The Service's EndpointSlice points at the web pod (no controller makes it here).
    let slice: k8s_openapi::api::discovery::v1::EndpointSlice = serde_json::from_value(json!({
        "metadata": { "name": "web-abc", "namespace": world.namespace, "labels": { "kubernetes.io/service-name": "web" } },
        "addressType": "IPv4",
        "endpoints": [{ "addresses": ["10.0.0.7"], "targetRef": { "kind": "Pod", "name": "web-1", "namespace": world.namespace, "uid": web } }],
    }))
    .unwrap();
    let slices: kube::Api<k8s_openapi::api::discovery::v1::EndpointSlice> =
        kube::Api::namespaced(world.client.clone(), &world.namespace);
    slices.create(&Default::default(), &slice).await.unwrap();

    let operator = Operator::start(bed, &world, &bed.spire_socket(), "clusterDomain: cluster.local\n");
    let ns = world.namespace.clone();
    let found = wait_for(&spire, &world, &operator, "a web entry with service names and one fallback entry", |e| {
        e.len() == 2 && e.iter().any(|e| e.dns_names.len() == 4)
    })
    .await;
    let paths: Vec<&str> = found.iter().map(|e| e.spiffe_id.path()).collect();
    assert_eq!(paths, ["/default/other-1", "/web/web-1"], "the fallback covers only the pod no other identity selects");
    let web_entry = found.iter().find(|e| e.spiffe_id.path() == "/web/web-1").unwrap();
    assert_eq!(
        web_entry.dns_names,
        ["web".to_owned(), format!("web.{ns}"), format!("web.{ns}.svc"), format!("web.{ns}.svc.cluster.local")]
    );

    // The pod leaves the Service: its entry loses the names.
    let patch = json!({ "endpoints": [] });
    slices.patch("web-abc", &kube::api::PatchParams::default(), &kube::api::Patch::Merge(&patch)).await.unwrap();
    wait_for(&spire, &world, &operator, "the web entry without service names", |e| {
        e.iter().any(|e| e.spiffe_id.path() == "/web/web-1" && e.dns_names.is_empty())
    })
    .await;
    world.clean_up().await;
}

#[tokio::test]
async fn entries_of_a_resource_deleted_while_the_operator_was_down_are_removed() {
    let bed = testbed();
    let spire = bed.spire();
    let mut world = World::new(bed).await;
    world.node("node").await;
    let csid = format!("gone-{}", world.id);
    world.apply("ClusterSPIFFEID", &csid, world.pod_identity_spec()).await;
    world.pod("p-1", &[], Some("node")).await;
    world
        .apply(
            "ClusterStaticEntry",
            &format!("static-{}", world.id),
            json!({
                "className": world.class,
                "spiffeID": format!("spiffe://example.org/static/{}", world.id),
                "parentID": "spiffe://example.org/spire/agent/x509pop/h",
                "selectors": ["unix:uid:5"],
            }),
        )
        .await;
    let mut operator = Operator::start(bed, &world, &bed.spire_socket(), "");
    wait_for(&spire, &world, &operator, "two entries", |e| e.len() == 2).await;
    operator.stop();

    world.delete("ClusterSPIFFEID", &csid).await;
    world.delete("ClusterStaticEntry", &format!("static-{}", world.id)).await;
    let operator = Operator::start(bed, &world, &bed.spire_socket(), "");
    wait_for(&spire, &world, &operator, "no entries after the restart", |e| e.is_empty()).await;
    world.clean_up().await;
}

#[tokio::test]
async fn refused_writes_are_reported_and_tried_again_at_the_periodic_check() {
    use spire_steward::spiffe::TrustDomain;
    use spire_steward::spire::{BundleEndpointProfile, ClientConfig, FederationRelationship, SpireClient};

    let bed = testbed();
    // A private server: the test leaves a federated bundle behind.
    let server = PrivateSpireServer::start(bed);
    let spire = SpireClient::new(ClientConfig::new(server.socket()));
    let mut world = World::new(bed).await;
    world.node("node").await;
    world.pod("p-1", &[], Some("node")).await;
    let csid = world.identity_name("refused");
    let partner = format!("partner-{}.example", world.id);
    let mut spec = world.pod_identity_spec();
    spec["federatesWith"] = json!([partner]);
    spec["owner"] = json!({ "team": "payments" });
    world.apply("ClusterSPIFFEID", &csid, spec).await;
    let metrics_port = support::operator::free_port();
    let operator = Operator::start(
        bed,
        &world,
        &server.socket(),
        &format!("metrics: {{bindAddress: '127.0.0.1:{metrics_port}'}}\n"),
    );

    // SPIRE refuses an entry that federates with a trust domain it has no bundle for.
    let message = world.wait_ready(&operator, "ClusterSPIFFEID", &csid, ("False", "SpireRejected")).await;
    assert!(message.contains("SPIRE refused 1 entries"), "{message}");
    assert_eq!(world.status("ClusterSPIFFEID", &csid).await["stats"]["entryFailures"], 1);
    let event = wait_event(&world, &csid, "SpireRejected").await;
    assert_eq!(event.type_.as_deref(), Some("Warning"));
    assert!(entries(&spire, &world.prefix).await.is_empty());
    let rejected =
        support::operator::metric(metrics_port, r#"spire_steward_reconcile_errors_total{category="spire_rejected"}"#)
            .await;
    assert!(rejected >= 1.0, "spire_rejected errors: {rejected}");
    // Tried again at every periodic check, the refusal is logged once, naming the pod and team.
    let retried = support::eventually(WAIT, || async {
        let rejected = support::operator::metric(
            metrics_port,
            r#"spire_steward_reconcile_errors_total{category="spire_rejected"}"#,
        )
        .await;
        (rejected >= 3.0).then_some(())
    })
    .await;
    assert!(retried.is_some(), "not tried again\n{}", operator.log_text());
    let log = operator.log_text();
    let failures: Vec<&str> = log.lines().filter(|l| l.contains("apply: failed to create entry")).collect();
    assert_eq!(failures.len(), 1, "{log}");
    let pod = format!("team=payments pod_namespace={} pod=p-1", world.namespace);
    assert!(failures[0].contains(&pod), "{}", failures[0]);

    // Once SPIRE knows the partner's bundle, the next periodic check writes the entry: nothing
    // in the cluster changed to trigger it.
    let ca = spire.get_bundle().await.unwrap().x509_authorities.remove(0);
    let partner_td = TrustDomain::parse(&partner).unwrap();
    let relationship = FederationRelationship {
        trust_domain: partner_td.clone(),
        bundle_endpoint_url: "https://127.0.0.1:8443/bundle".into(),
        profile: BundleEndpointProfile::HttpsWeb,
        trust_domain_bundle: Some(spire_steward::spire::Bundle {
            trust_domain: Some(partner_td.clone()),
            x509_authorities: vec![ca],
            jwt_authorities: vec![],
            refresh_hint: 0,
            sequence_number: 1,
        }),
    };
    let created = spire.batch_create_federation_relationships(&[relationship]).await.unwrap();
    assert!(created.iter().all(Result::is_ok), "{created:?}");
    let written = wait_for(&spire, &world, &operator, "the entry after the bundle arrived", |e| e.len() == 1).await;
    assert_eq!(written[0].federates_with, vec![partner_td]);
    let log = operator.log_text();
    assert!(log.lines().any(|l| l.contains("created entry") && l.contains(&pod)), "{log}");
    world.wait_ready(&operator, "ClusterSPIFFEID", &csid, ("True", "Synced")).await;
    assert_eq!(world.status("ClusterSPIFFEID", &csid).await["stats"]["entryFailures"], 0);
    world.clean_up().await;
}

#[tokio::test]
async fn an_entry_another_tool_made_first_stands_in_until_it_goes() {
    use support::operator::free_port;

    let bed = testbed();
    let spire = bed.spire();
    let mut world = World::new(bed).await;
    let node_uid = world.node("node").await;
    let uid = world.pod("p-1", &[("app", "later")], Some("node")).await;
    let csid = world.identity_name("late");
    let mut spec = world.pod_identity_spec();
    spec["podSelector"] = json!({ "matchLabels": { "app": "web" } });
    world.apply("ClusterSPIFFEID", &csid, spec).await;
    let metrics_port = free_port();
    let operator = Operator::start(
        bed,
        &world,
        &bed.spire_socket(),
        &format!("gcInterval: 5s\nmetrics: {{bindAddress: '127.0.0.1:{metrics_port}'}}\n"),
    );
    world.wait_ready(&operator, "ClusterSPIFFEID", &csid, ("True", "Synced")).await;

    // Another tool registers the pod's identity under its own ID just before the pod is selected:
    // the operator's create meets it. It must stand in for the declaration, not be retried.
    let mut foreign = Entry::new(
        SpiffeId::parse("spiffe://example.org/pod/p-1").unwrap(),
        SpiffeId::parse(&format!("spiffe://example.org/spire/agent/k8s_psat/test/{node_uid}")).unwrap(),
        vec![Selector::parse(&format!("k8s:pod-uid:{uid}")).unwrap()],
    );
    foreign.id = Some(EntryId::parse(&format!("manual.{}", world.id)).unwrap());
    let created = spire.batch_create_entries(std::slice::from_ref(&foreign)).await.unwrap();
    assert!(matches!(created[0], CreateOutcome::Created(_)));
    world.relabel("p-1", &[("app", "web")]).await;
    let creates =
        || support::operator::metric(metrics_port, r#"spire_steward_spire_requests_total{method="BatchCreateEntry""#);
    let first = eventually(WAIT, || async { (creates().await >= 1.0).then_some(()) }).await;
    assert!(first.is_some(), "the operator never tried to create\n{}", operator.log_text());
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(creates().await <= 2.0, "creates repeated: {}\n{}", creates().await, operator.log_text());
    assert!(entries(&spire, &world.prefix).await.is_empty(), "no entry of the operator's beside the foreign one");

    // The other tool removes its entry: the periodic check sees it go and the operator creates its own.
    spire.batch_delete_entries(&[foreign.id.clone().unwrap()]).await.unwrap().remove(0).unwrap();
    let own = wait_for(&spire, &world, &operator, "the operator's own entry", |e| e.len() == 1).await;
    assert_eq!(selectors(&own[0]), [format!("k8s:pod-uid:{uid}")]);
    world.clean_up().await;
}

#[tokio::test]
async fn a_pod_on_an_unknown_node_waits_without_stalling() {
    let bed = testbed();
    let spire = bed.spire();
    let mut world = World::new(bed).await;
    let csid = world.identity_name("waits");
    world.apply("ClusterSPIFFEID", &csid, world.pod_identity_spec()).await;
    world.pod("p-1", &[], Some("late-node")).await;
    let operator = Operator::start(bed, &world, &bed.spire_socket(), "");

    // The pod's node is not known: the resource waits (Reconciling), it is not stalled.
    let message = world.wait_ready(&operator, "ClusterSPIFFEID", &csid, ("False", "InputsIncomplete")).await;
    assert!(message.contains("1 of 1 selected pods wait for inputs"), "{message}");
    assert!(message.contains("is not known"), "{message}");
    let reconciling = world.condition("ClusterSPIFFEID", &csid, "Reconciling").await;
    assert_eq!(reconciling.map(|c| c.0), Some("True".into()));
    assert_eq!(world.condition("ClusterSPIFFEID", &csid, "Stalled").await, None);
    let status = world.status("ClusterSPIFFEID", &csid).await;
    assert_eq!(status["stats"]["podEntryRenderFailures"], 0, "{status}");
    assert_eq!(status["stats"]["podsSelected"], 1, "{status}");

    // The node arrives: the entry is written and the resource is Ready.
    world.node("late-node").await;
    wait_for(&spire, &world, &operator, "the pod's entry", |e| e.len() == 1).await;
    world.wait_ready(&operator, "ClusterSPIFFEID", &csid, ("True", "Synced")).await;
    assert_eq!(world.condition("ClusterSPIFFEID", &csid, "Reconciling").await, None);

    // An edit: the new generation is observed together with the entries it declares.
    let mut spec = world.pod_identity_spec();
    spec["spiffeIDTemplate"] = json!("spiffe://{{ .TrustDomain }}/edited/{{ .PodMeta.Name }}");
    world.apply("ClusterSPIFFEID", &csid, spec).await;
    let observed = eventually(WAIT, || async {
        let status = world.status("ClusterSPIFFEID", &csid).await;
        (status["observedGeneration"] == 2).then_some(status)
    })
    .await
    .expect("generation 2 observed");
    assert_eq!(observed["conditions"][0]["observedGeneration"], 2, "{observed}");
    let now = entries(&spire, &world.prefix).await;
    assert!(now.len() == 1 && now[0].spiffe_id.path() == "/edited/p-1", "{now:?}");
    world.clean_up().await;
}

#[tokio::test]
async fn the_older_of_two_identities_wins_and_status_rests_at_steady_state() {
    let bed = testbed();
    let spire = bed.spire();
    let mut world = World::new(bed).await;
    world.node("node").await;
    let (older, younger) = (world.identity_name("older"), world.identity_name("younger"));
    world.apply("ClusterSPIFFEID", &older, world.pod_identity_spec()).await;
    // Creation timestamps have one-second resolution.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    world.apply("ClusterSPIFFEID", &younger, world.pod_identity_spec()).await;
    world.pod("p-1", &[], Some("node")).await;
    world.pod("p-2", &[], Some("node")).await;
    let operator = Operator::start(bed, &world, &bed.spire_socket(), "");

    // Both declare the same entries: one entry per pod, set by the older resource.
    wait_for(&spire, &world, &operator, "one entry per pod", |e| e.len() == 2).await;
    world.wait_ready(&operator, "ClusterSPIFFEID", &older, ("True", "Synced")).await;
    let world_ref = &world;
    let stats = |name: String| async move { world_ref.status("ClusterSPIFFEID", &name).await["stats"].clone() };
    let settled = eventually(WAIT, || async {
        let s = stats(younger.clone()).await;
        (s["entriesMasked"] == 2).then_some(s)
    })
    .await;
    let younger_stats = settled.unwrap_or_else(|| panic!("younger never masked\n{}", operator.log_text()));
    assert_eq!(younger_stats["entriesToSet"], 0, "{younger_stats}");
    assert_eq!(younger_stats["podsSelected"], 2, "{younger_stats}");
    assert_eq!(younger_stats["namespacesSelected"], 1, "{younger_stats}");
    let older_stats = stats(older.clone()).await;
    assert_eq!(older_stats["entriesToSet"], 2, "{older_stats}");
    assert_eq!(older_stats["entriesMasked"], 0, "{older_stats}");
    assert_eq!(older_stats["namespacesIgnored"], 0, "{older_stats}");

    // Nothing changes for several periodic checks: status is not written again.
    let version = |name: String| async move {
        support::operator::dynamic(&world_ref.client, "ClusterSPIFFEID")
            .get(&name)
            .await
            .unwrap()
            .metadata
            .resource_version
    };
    let before = (version(older.clone()).await, version(younger.clone()).await);
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!((version(older.clone()).await, version(younger.clone()).await), before, "status rewritten at rest");
    world.clean_up().await;
}
