//! Drift on the real servers: owned entries edited, deleted or added behind the operator's back
//! are repaired under `driftPolicy: Enforce` and only reported under `Report` (per resource as
//! well as in the configuration); foreign entries are reported and never touched.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use spire_steward::spiffe::{Entry, EntryField, EntryMask, Selector, SpiffeId};
use support::{
    audit::AuditLog,
    drift::{Settled, WAIT, a_few_checks, create, delete, edit, entry_by_id, settled, start, wait_drifted, wait_event},
    eventually,
    operator::{World, entries, metric},
    testbed,
};

#[tokio::test]
async fn owned_drift_is_repaired_under_enforce_unless_the_resource_says_report() {
    let bed = testbed();
    let Settled { world, name, audit, operator, port, entry } = settled("").await;
    let spire = bed.spire();
    let id = entry.id.clone().unwrap();

    // Modified: written back as declared.
    edit(&spire, &entry).await;
    let repaired = eventually(WAIT, || async {
        entry_by_id(&id).await.filter(|e| e.x509_svid_ttl == entry.x509_svid_ttl && e.dns_names == entry.dns_names)
    })
    .await;
    assert!(repaired.is_some(), "the edit was not repaired\nlog:\n{}", operator.log_text());
    wait_event(&world, &operator, &name, "Normal", "DriftRepaired").await;
    assert_eq!(world.condition("ClusterSPIFFEID", &name, "Drifted").await, None, "no lasting condition");
    assert!(metric(port, r#"spire_steward_drift_detected_total{class="modified"}"#).await >= 1.0);
    // The log names the entry, and the repair names the fields it wrote.
    let log = operator.log_text();
    assert!(log.contains(&format!("modified_entries={id}")), "{log}");
    assert!(log.lines().any(|l| l.contains("updated entry") && l.contains("fields=x509SVIDTTL")), "{log}");

    // Missing: created again.
    delete(&spire, &id).await;
    let back = eventually(WAIT, || async { entry_by_id(&id).await }).await;
    assert!(back.is_some(), "the deleted entry did not come back\nlog:\n{}", operator.log_text());
    assert!(metric(port, r#"spire_steward_drift_detected_total{class="missing"}"#).await >= 1.0);

    // Unexpected: an entry under the operator's prefix that nothing declares is removed.
    let mut stray = entry.clone();
    stray.spiffe_id = SpiffeId::parse(&format!("spiffe://{}/stray/{}", bed.trust_domain(), world.id)).unwrap();
    let stray_id = create(&spire, stray, &format!("{}.stray1", world.prefix)).await;
    let gone = eventually(WAIT, || async { entry_by_id(&stray_id).await.is_none().then_some(()) }).await;
    assert!(gone.is_some(), "the unexpected entry stayed\nlog:\n{}", operator.log_text());
    assert!(metric(port, r#"spire_steward_drift_detected_total{class="unexpected"}"#).await >= 1.0);
    world.wait_ready(&operator, "ClusterSPIFFEID", &name, ("True", "Synced")).await;
    // Each repair is one write, recorded with reason drift-repaired.
    let repaired = |action: &'static str, id: String| {
        move |r: &Value| r["action"] == action && r["reason"] == "drift-repaired" && r["entryID"] == id.as_str()
    };
    let update = audit.wait(&operator, "the edit written back", repaired("update", id.to_string())).await;
    assert_eq!((&update["outcome"], &update["fields"]), (&json!("success"), &json!(["x509SVIDTTL", "dnsNames"])));
    assert_eq!(update["resource"]["name"], name.as_str());
    audit.wait(&operator, "the deleted entry created again", repaired("create", id.to_string())).await;
    audit.wait(&operator, "the stray entry removed", repaired("delete", stray_id.to_string())).await;

    // The resource says Report, over the configuration's Enforce: an edit stays.
    let mut spec = world.pod_identity_spec();
    spec["driftPolicy"] = json!("Report");
    world.apply("ClusterSPIFFEID", &name, spec).await;
    a_few_checks().await;
    edit(&spire, &entry).await;
    let message = wait_drifted(&world, &operator, "ClusterSPIFFEID", &name, Some("Modified")).await;
    assert_eq!(message, "1 entry Modified (x509SVIDTTL, dnsNames); driftPolicy Report: not repaired");
    a_few_checks().await;
    let now = entry_by_id(&id).await.unwrap();
    assert_eq!((now.x509_svid_ttl, now.dns_names.clone()), (77, vec!["edited.example".to_string()]), "left as is");
    wait_event(&world, &operator, &name, "Warning", "DriftDetected").await;
    world.wait_ready(&operator, "ClusterSPIFFEID", &name, ("True", "Synced")).await;
    let detected = audit.matching(|r| r["action"] == "drift-detected");
    assert_eq!(detected.len(), 1, "one record per detection: {detected:#?}");
    assert_eq!((&detected[0]["entryID"], &detected[0]["reason"]), (&json!(id.as_str()), &json!("drift")));
    assert_eq!(detected[0]["fields"], json!(["x509SVIDTTL", "dnsNames"]));
    world.clean_up().await;
}

#[tokio::test]
async fn owned_drift_is_only_reported_under_report_unless_the_resource_says_enforce() {
    let bed = testbed();
    let Settled { world, name, audit, operator, port, entry } = settled("driftPolicy: Report\n").await;
    let spire = bed.spire();
    let id = entry.id.clone().unwrap();

    // Modified: left as is, reported.
    edit(&spire, &entry).await;
    let message = wait_drifted(&world, &operator, "ClusterSPIFFEID", &name, Some("Modified")).await;
    assert_eq!(message, "1 entry Modified (x509SVIDTTL, dnsNames); driftPolicy Report: not repaired");
    a_few_checks().await;
    assert_eq!(entry_by_id(&id).await.unwrap().x509_svid_ttl, 77, "not repaired");
    assert_eq!(wait_event(&world, &operator, &name, "Warning", "DriftDetected").await, 1, "one Event per detection");
    let ready = world.wait_ready(&operator, "ClusterSPIFFEID", &name, ("True", "Synced")).await;
    assert!(!ready.contains("drift"), "Ready is not changed by drift: {ready}");
    assert_eq!(metric(port, r#"spire_steward_drifted_entries{class="modified"}"#).await, 1.0);
    assert_eq!(metric(port, r#"spire_steward_drift_detected_total{class="modified"}"#).await, 1.0);

    // Missing: not created again.
    delete(&spire, &id).await;
    wait_drifted(&world, &operator, "ClusterSPIFFEID", &name, Some("1 entry Missing")).await;
    a_few_checks().await;
    assert!(entry_by_id(&id).await.is_none(), "not recreated");
    assert_eq!(metric(port, r#"spire_steward_drifted_entries{class="missing"}"#).await, 1.0);
    let detected: Vec<String> = audit
        .matching(|r| r["action"] == "drift-detected")
        .iter()
        .map(|r| r["message"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(detected.len(), 2, "Modified then Missing, each once: {detected:#?}");
    assert!(detected[0].contains("Modified") && detected[1].contains("Missing"), "{detected:#?}");
    assert!(audit.matching(|r| r["reason"] == "drift-repaired").is_empty(), "nothing repaired under Report");

    // Unexpected: left in place; it has no declaring resource, so it shows in metrics and logs.
    let mut stray = entry.clone();
    stray.spiffe_id = SpiffeId::parse(&format!("spiffe://{}/stray/{}", bed.trust_domain(), world.id)).unwrap();
    let stray_id = create(&spire, stray, &format!("{}.stray1", world.prefix)).await;
    let counted = eventually(WAIT, || async {
        (metric(port, r#"spire_steward_drifted_entries{class="unexpected"}"#).await == 1.0).then_some(())
    })
    .await;
    assert!(counted.is_some(), "the unexpected entry was not counted\nlog:\n{}", operator.log_text());
    a_few_checks().await;
    assert!(entry_by_id(&stray_id).await.is_some(), "the unexpected entry is left");

    // The resource says Enforce, over the configuration's Report: the entry comes back, the
    // condition goes.
    let mut spec = world.pod_identity_spec();
    spec["driftPolicy"] = json!("Enforce");
    world.apply("ClusterSPIFFEID", &name, spec).await;
    let back = eventually(WAIT, || async { entry_by_id(&id).await }).await;
    assert!(back.is_some(), "the Missing entry was not recreated\nlog:\n{}", operator.log_text());
    wait_drifted(&world, &operator, "ClusterSPIFFEID", &name, None).await;
    wait_event(&world, &operator, &name, "Normal", "DriftRepaired").await;
    assert!(entry_by_id(&stray_id).await.is_some(), "nothing declares the stray entry: the configuration's Report");
    delete(&spire, &stray_id).await;
    world.clean_up().await;
}

/// Drift reported under Report stays reported across a restart, every class of it: the
/// instance's state ConfigMap keeps the ledger, so the new operator takes the differences for
/// drift, not for changes to write.
#[tokio::test]
async fn reported_drift_survives_a_restart() {
    let bed = testbed();
    let world = World::with_one_pod(bed, "web").await;
    world.pod("p-2", &[], Some("node")).await;
    let name = world.identity_name("web");
    let audit = AuditLog::new(&world);
    let config = format!("driftPolicy: Report\n{}", audit.config());
    let (mut operator, _) = start(&world, &config);
    let spire = bed.spire();
    world.wait_ready(&operator, "ClusterSPIFFEID", &name, ("True", "Synced")).await;
    let two = eventually(WAIT, || async {
        let all = entries(&spire, &world.prefix).await;
        (all.len() == 2).then_some(all)
    })
    .await
    .unwrap_or_else(|| panic!("never two entries\nlog:\n{}", operator.log_text()));
    let (edited, deleted) = (&two[0], &two[1]);
    let (edited_id, deleted_id) = (edited.id.clone().unwrap(), deleted.id.clone().unwrap());
    edit(&spire, edited).await;
    delete(&spire, &deleted_id).await;
    let mut stray = edited.clone();
    stray.spiffe_id = SpiffeId::parse(&format!("spiffe://{}/stray/{}", bed.trust_domain(), world.id)).unwrap();
    let stray_id = create(&spire, stray, &format!("{}.stray1", world.prefix)).await;
    let before = "1 entry Modified (x509SVIDTTL, dnsNames), 1 Missing";
    wait_drifted(&world, &operator, "ClusterSPIFFEID", &name, Some(before)).await;

    // The state holds the three, by class.
    let states: kube::Api<k8s_openapi::api::core::v1::ConfigMap> =
        kube::Api::namespaced(world.client.clone(), &world.namespace);
    let state_name = format!("{}-state", world.lease());
    let kept = eventually(WAIT, || async {
        let state = states.get_opt(&state_name).await.unwrap()?;
        let record: Value = serde_json::from_str(state.data?.get("drift.json")?).unwrap();
        let ids = |class: &str| -> Vec<Value> {
            record[class].as_array().into_iter().flatten().map(|e| e["entryID"].clone()).collect()
        };
        (ids("unexpected").len() == 1).then(|| (ids("modified"), ids("missing"), ids("unexpected"), record.clone()))
    })
    .await
    .unwrap_or_else(|| panic!("the state never held the drift\nlog:\n{}", operator.log_text()));
    assert_eq!(
        (&kept.0, &kept.1, &kept.2),
        (&vec![json!(edited_id.as_str())], &vec![json!(deleted_id.as_str())], &vec![json!(stray_id.as_str())]),
        "{:#}",
        kept.3
    );
    // What the operator wrote, not the edit (77 s, edited.example).
    let written = &kept.3["modified"][0];
    assert!(written.get("x509SVIDTTL").is_none() && written.get("dnsNames").is_none(), "{:#}", kept.3);
    operator.stop();

    let (operator, _) = start(&world, &config);
    a_few_checks().await;
    world.wait_ready(&operator, "ClusterSPIFFEID", &name, ("True", "Synced")).await;
    assert_eq!(entry_by_id(&edited_id).await.unwrap().x509_svid_ttl, 77, "not repaired after the restart");
    assert!(entry_by_id(&deleted_id).await.is_none(), "not recreated after the restart");
    assert!(entry_by_id(&stray_id).await.is_some(), "not deleted after the restart");
    let message = wait_drifted(&world, &operator, "ClusterSPIFFEID", &name, Some(before)).await;
    assert_eq!(message, format!("{before}; driftPolicy Report: not repaired"));
    let writes = audit.matching(|r| ["update", "delete"].contains(&r["action"].as_str().unwrap_or_default()));
    assert!(writes.is_empty(), "{writes:#?}");
    assert_eq!(audit.matching(|r| r["action"] == "create").len(), 2, "only the first creates");
    assert!(operator.log_text().contains("restored the drift found before the start"));
    delete(&spire, &stray_id).await;
    world.clean_up().await;
}

/// A key field (the SPIFFE ID) edited in SPIRE is one Modified entry: under Report neither the
/// declared entry is created beside it nor the edited one deleted.
#[tokio::test]
async fn a_spiffe_id_edited_under_report_is_modified_and_left_whole() {
    let bed = testbed();
    let Settled { world, name, audit, operator, port: _, entry } = settled("driftPolicy: Report\n").await;
    let spire = bed.spire();
    let id = entry.id.clone().unwrap();
    let mut edited = entry.clone();
    edited.spiffe_id = SpiffeId::parse(&format!("spiffe://{}/hijacked/{}", bed.trust_domain(), world.id)).unwrap();
    let results = spire.batch_update_entries(&[edited.clone()], EntryMask::default().with(EntryField::SpiffeId)).await;
    assert!(results.unwrap()[0].is_ok());
    let message = wait_drifted(&world, &operator, "ClusterSPIFFEID", &name, Some("Modified")).await;
    assert_eq!(message, "1 entry Modified (spiffeID); driftPolicy Report: not repaired");
    a_few_checks().await;
    let stored = entries(&spire, &world.prefix).await;
    assert_eq!(stored.len(), 1, "nothing created beside it: {stored:?}");
    assert_eq!((stored[0].id.as_ref(), &stored[0].spiffe_id), (Some(&id), &edited.spiffe_id), "left as it is");
    let detected = audit.matching(|r| r["action"] == "drift-detected");
    assert_eq!(detected.len(), 1, "{detected:#?}");
    assert_eq!(detected[0]["fields"], json!(["spiffeID"]));
    assert!(audit.matching(|r| r["action"] == "create" || r["action"] == "delete").len() == 1, "only the first create");
    world.clean_up().await;
}

/// A pod entry's `k8s:pod-uid` selector edited in SPIRE to the UID of a pod that does not exist
/// moves the entry into that pod's scope. It is still one Modified entry of its own pod: under
/// Enforce written back in place (same ID, one update of the selectors), under Report left whole,
/// also across a restart. The other pod's scope never deletes it.
#[tokio::test]
async fn a_pod_uid_selector_edited_to_another_pod_is_one_modified_entry() {
    let bed = testbed();
    let spire = bed.spire();
    let moved = |entry: &Entry| {
        let mut moved = entry.clone();
        for selector in &mut moved.selectors {
            if selector.to_string().starts_with("k8s:pod-uid:") {
                *selector = Selector::parse("k8s:pod-uid:00000000-0000-4000-8000-00000000dead").unwrap();
            }
        }
        assert_ne!(moved.selectors, entry.selectors, "{entry:?}");
        moved
    };
    let move_behind = |entry: Entry| {
        let spire = spire.clone();
        async move {
            let results = spire.batch_update_entries(&[entry], EntryMask::default().with(EntryField::Selectors)).await;
            assert!(results.unwrap()[0].is_ok());
        }
    };

    // Enforce: the selectors written back under the entry's own ID.
    let Settled { world, name: _, audit, operator, port: _, entry } = settled("").await;
    let id = entry.id.clone().unwrap();
    move_behind(moved(&entry)).await;
    let back = eventually(WAIT, || async {
        let now = entry_by_id(&id).await?;
        (now.selectors == entry.selectors && now.revision_number > entry.revision_number).then_some(now)
    })
    .await;
    assert!(back.is_some(), "the selectors were not written back\nlog:\n{}", operator.log_text());
    let update = audit
        .wait(&operator, "the selectors written back", |r| r["action"] == "update" && r["reason"] == "drift-repaired")
        .await;
    assert_eq!((&update["entryID"], &update["fields"]), (&json!(id.as_str()), &json!(["selectors"])));
    a_few_checks().await;
    let stored = entries(&spire, &world.prefix).await;
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert_eq!((stored[0].id.as_ref(), &stored[0].selectors), (Some(&id), &entry.selectors));
    let writes = audit.matching(|r| ["create", "delete"].contains(&r["action"].as_str().unwrap_or_default()));
    assert_eq!(writes.len(), 1, "only the first create, no delete: {writes:#?}");
    assert!(operator.log_text().lines().all(|l| !l.contains("failed to")), "{}", operator.log_text());
    drop(operator);
    world.clean_up().await;

    // Report: left whole, before and after a restart.
    let config = "driftPolicy: Report\n";
    let Settled { world, name, audit, mut operator, port: _, entry } = settled(config).await;
    let id = entry.id.clone().unwrap();
    let edited = moved(&entry);
    move_behind(edited.clone()).await;
    let message = wait_drifted(&world, &operator, "ClusterSPIFFEID", &name, Some("Modified")).await;
    assert_eq!(message, "1 entry Modified (selectors); driftPolicy Report: not repaired");
    a_few_checks().await;
    let left = |stored: Vec<Entry>| {
        assert_eq!(stored.len(), 1, "{stored:?}");
        assert_eq!((stored[0].id.as_ref(), &stored[0].selectors), (Some(&id), &edited.selectors), "left as edited");
    };
    left(entries(&spire, &world.prefix).await);
    operator.stop();
    let (operator, _) = start(&world, &format!("{config}{}", audit.config()));
    a_few_checks().await;
    wait_drifted(&world, &operator, "ClusterSPIFFEID", &name, Some("1 entry Modified (selectors)")).await;
    left(entries(&spire, &world.prefix).await);
    let writes = audit.matching(|r| ["create", "update", "delete"].contains(&r["action"].as_str().unwrap_or_default()));
    assert_eq!(writes.len(), 1, "only the first create: {writes:#?}");
    world.clean_up().await;
}

#[tokio::test]
async fn foreign_entries_are_reported_and_never_touched() {
    let bed = testbed();
    let world = World::new(bed).await;
    let td = bed.trust_domain().to_owned();
    let spire = bed.spire();
    let (cse, policy) = (world.identity_name("static"), world.identity_name("pol"));
    let parent = SpiffeId::parse(&format!("spiffe://{td}/spire/agent/x509pop/vm-{}", world.id)).unwrap();
    let declared_id = SpiffeId::parse(&format!("spiffe://{td}/vm/{}", world.id)).unwrap();
    let selectors = vec![spire_steward::spiffe::Selector::parse(&format!("unix:uid:{}", 1000)).unwrap()];

    // Another tool's entry with the key the static entry is about to declare.
    let colliding = Entry::new(declared_id.clone(), parent.clone(), selectors.clone());
    let colliding_id = create(&spire, colliding, &format!("other{}.1", world.prefix)).await;
    // And one in the SPIFFE ID space the test's policy governs.
    let governed_path = format!("/governed/{}/x", world.id);
    let governed = Entry::new(SpiffeId::parse(&format!("spiffe://{td}{governed_path}")).unwrap(), parent, selectors);
    let governed_id = create(&spire, governed, &format!("other{}.2", world.prefix)).await;

    world
        .apply(
            "IdentityPolicy",
            &policy,
            json!({
                "className": world.class,
                "spiffeIDs": { "allow": [format!("/governed/{}/**", world.id), "/vm/**"] },
                "enforcement": "Audit",
            }),
        )
        .await;
    world
        .apply(
            "ClusterStaticEntry",
            &cse,
            json!({
                "className": world.class,
                "spiffeID": declared_id.to_string(),
                "parentID": format!("spiffe://{td}/spire/agent/x509pop/vm-{}", world.id),
                "selectors": ["unix:uid:1000"],
                "x509SVIDTTL": "1h",
            }),
        )
        .await;
    let (operator, port) = start(&world, "");
    let message = wait_drifted(&world, &operator, "ClusterStaticEntry", &cse, Some("Foreign")).await;
    assert!(message.contains("never changed"), "{message}");
    wait_event(&world, &operator, &cse, "Warning", "DriftDetected").await;
    wait_event(&world, &operator, &policy, "Warning", "DriftDetected").await;
    let counted = eventually(WAIT, || async {
        (metric(port, r#"spire_steward_drifted_entries{class="foreign"}"#).await >= 2.0).then_some(())
    })
    .await;
    assert!(counted.is_some(), "foreign entries not counted\nlog:\n{}", operator.log_text());
    let on_policy = eventually(WAIT, || async {
        let count = world.status("IdentityPolicy", &policy).await["foreignEntries"].as_i64().unwrap_or(0);
        (count >= 1).then_some(())
    })
    .await;
    assert!(on_policy.is_some(), "{}\nlog:\n{}", world.status("IdentityPolicy", &policy).await, operator.log_text());
    a_few_checks().await;
    let colliding_now = entry_by_id(&colliding_id).await.expect("the colliding foreign entry is left");
    assert_eq!(colliding_now.x509_svid_ttl, 0, "never written, though the declaration asks for 1h");
    assert!(entry_by_id(&governed_id).await.is_some(), "the governed foreign entry is left");
    assert!(entries(&spire, &world.prefix).await.is_empty(), "no duplicate of the foreign entry");
    delete(&spire, &colliding_id).await;
    delete(&spire, &governed_id).await;
    world.delete("ClusterStaticEntry", &cse).await;
    world.delete("IdentityPolicy", &policy).await;
    world.clean_up().await;
}

/// A tenant's SPIFFEID and a ClusterStaticEntry drift as a ClusterSPIFFEID does, each by its
/// own `driftPolicy`: the SPIFFEID says Enforce over the configuration's Report and is repaired;
/// the static entry follows Report and is only reported.
#[tokio::test]
async fn tenant_and_static_entries_drift_by_their_own_policy() {
    let bed = testbed();
    let mut world = World::new(bed).await;
    world.node("node").await;
    world.pod("p-1", &[], Some("node")).await;
    let td = bed.trust_domain().to_owned();
    let (sid, cse) = (world.identity_name("tenant"), world.identity_name("static"));
    let gvk = kube::core::GroupVersionKind::gvk("spire-steward.io", "v1alpha1", "SPIFFEID");
    let tenants: kube::Api<kube::api::DynamicObject> =
        kube::Api::namespaced_with(world.client.clone(), &world.namespace, &kube::core::ApiResource::from_gvk(&gvk));
    let body = json!({
        "apiVersion": "spire-steward.io/v1alpha1",
        "kind": "SPIFFEID",
        "metadata": { "name": sid, "namespace": world.namespace },
        "spec": {
            "className": world.class,
            "spiffeIDTemplate": "spiffe://{{ .TrustDomain }}/ns/{{ .PodMeta.Namespace }}/{{ .PodMeta.Name }}",
            "driftPolicy": "Enforce",
        },
    });
    let apply = kube::api::PatchParams::apply("spire-steward-tests").force();
    tenants.patch(&sid, &apply, &kube::api::Patch::Apply(&body)).await.unwrap();
    let static_id = SpiffeId::parse(&format!("spiffe://{td}/vm/{}", world.id)).unwrap();
    world
        .apply(
            "ClusterStaticEntry",
            &cse,
            json!({
                "className": world.class,
                "spiffeID": static_id.to_string(),
                "parentID": format!("spiffe://{td}/spire/agent/x509pop/vm-{}", world.id),
                "selectors": ["unix:uid:1000"],
            }),
        )
        .await;
    let (operator, _) = start(&world, "driftPolicy: Report\n");
    let spire = bed.spire();
    let two = eventually(WAIT, || async {
        let all = entries(&spire, &world.prefix).await;
        (all.len() == 2).then_some(all)
    })
    .await
    .unwrap_or_else(|| panic!("never two entries\nlog:\n{}", operator.log_text()));
    let tenant_entry = two.iter().find(|e| e.spiffe_id.path().starts_with("/ns/")).unwrap().clone();
    let static_entry = two.iter().find(|e| e.spiffe_id == static_id).unwrap().clone();
    edit(&spire, &tenant_entry).await;
    edit(&spire, &static_entry).await;

    // The static entry: reported, left as edited.
    let message = wait_drifted(&world, &operator, "ClusterStaticEntry", &cse, Some("Modified")).await;
    assert_eq!(message, "1 entry Modified (x509SVIDTTL, dnsNames); driftPolicy Report: not repaired");
    wait_event(&world, &operator, &cse, "Warning", "DriftDetected").await;
    // The SPIFFEID: repaired, with an Event on it.
    wait_event(&world, &operator, &sid, "Normal", "DriftRepaired").await;
    let repaired = eventually(WAIT, || async {
        let e = entry_by_id(tenant_entry.id.as_ref().unwrap()).await?;
        (e.x509_svid_ttl == tenant_entry.x509_svid_ttl && e.dns_names.is_empty()).then_some(())
    })
    .await;
    assert!(repaired.is_some(), "the tenant's entry was not repaired\nlog:\n{}", operator.log_text());
    a_few_checks().await;
    assert_eq!(entry_by_id(static_entry.id.as_ref().unwrap()).await.unwrap().x509_svid_ttl, 77, "not repaired");
    tenants.delete(&sid, &Default::default()).await.unwrap();
    world.delete("ClusterStaticEntry", &cse).await;
    world.clean_up().await;
}

/// A drift record that does not parse is set aside, not trusted and not lost: the operator starts
/// without it, says so, keeps it under `drift.rejected.json` and writes a record of its own.
#[tokio::test]
async fn a_drift_record_that_does_not_parse_is_kept_aside() {
    let bed = testbed();
    let world = World::with_one_pod(bed, "web").await;
    let states: kube::Api<k8s_openapi::api::core::v1::ConfigMap> =
        kube::Api::namespaced(world.client.clone(), &world.namespace);
    let state_name = format!("{}-state", world.lease());
    let bad = r#"{"version": 1, "missing": [{"entryID": "a b", "spiffeID": "spiffe://example.org/a",
        "parentID": "spiffe://example.org/p", "selectors": []}]}"#;
    let cm: k8s_openapi::api::core::v1::ConfigMap = serde_json::from_value(json!({
        "metadata": { "name": state_name },
        "data": { "drift.json": bad },
    }))
    .unwrap();
    states.create(&Default::default(), &cm).await.unwrap();
    let (operator, _) = start(&world, "");
    world.wait_ready(&operator, "ClusterSPIFFEID", &world.identity_name("web"), ("True", "Synced")).await;
    let kept = eventually(WAIT, || async {
        let data = states.get(&state_name).await.unwrap().data.unwrap_or_default();
        (data.get("drift.json").map(String::as_str) == Some(r#"{"version":1}"#)).then_some(data)
    })
    .await
    .unwrap_or_else(|| panic!("no record of its own\nlog:\n{}", operator.log_text()));
    assert_eq!(kept.get("drift.rejected.json").map(String::as_str), Some(bad));
    let log = operator.log_text();
    assert!(log.contains("the drift record does not parse") && log.contains("missing[0].entryID"), "{log}");

    // Deleted while the operator runs: written again (the watch sees it go).
    states.delete(&state_name, &Default::default()).await.unwrap();
    let back = eventually(WAIT, || async {
        let data = states.get_opt(&state_name).await.unwrap()?.data?;
        data.contains_key("drift.json").then_some(())
    })
    .await;
    assert!(back.is_some(), "the state was not written again\nlog:\n{}", operator.log_text());

    // The rejected record is kept across a restart, where the record then parses.
    drop(operator);
    let (operator, _) = start(&world, "");
    world.wait_ready(&operator, "ClusterSPIFFEID", &world.identity_name("web"), ("True", "Synced")).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let data = states.get(&state_name).await.unwrap().data.unwrap_or_default();
    assert_eq!(data.get("drift.rejected.json").map(String::as_str), Some(bad), "{data:?}");
    world.clean_up().await;
}
