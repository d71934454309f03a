//! `spire-steward report` on the real servers: every identity with its source, owner, effective
//! TTLs and the bound that set them, exception, decision and drift, in table, JSON, CSV and
//! OpenReports form; its counts are the controller's status counters, and the OpenReports
//! objects pass the upstream CRDs' strict validation.

mod support;

use kube::{
    Api,
    api::{DeleteParams, DynamicObject, Patch, PatchParams, ValidationDirective},
    core::{ApiResource, GroupVersionKind},
};
use serde_json::{Value, json};
use spire_steward::spire::EntryMask;
use support::{
    cli::{Cli, Known, install_openreports, wait_converged},
    eventually,
    operator::{Operator, entries},
    testbed,
};

fn row<'a>(report: &'a Value, spiffe_id: &str) -> &'a Value {
    report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["spiffeID"] == spiffe_id)
        .unwrap_or_else(|| panic!("no row for {spiffe_id}: {report}"))
}

/// The rows without the time left on each exception (`exception.expires.in`), which counts down
/// between two runs.
fn without_time_left(rows: &Value) -> Value {
    let mut rows = rows.clone();
    for row in rows.as_array_mut().unwrap() {
        if let Some(expires) = row.pointer_mut("/exception/expires").and_then(Value::as_object_mut) {
            assert!(expires.remove("in").is_some(), "an exception's expiry has the time left: {expires:?}");
            assert!(expires.contains_key("at"), "{expires:?}");
        }
    }
    rows
}

#[tokio::test]
async fn report_lists_every_identity_and_matches_the_controllers_counters() {
    let bed = testbed();
    let known = Known::build(bed).await;
    let world = &known.world;
    let td = bed.trust_domain();
    let mut operator = Operator::start(bed, world, &bed.spire_socket(), "");
    wait_converged(bed, world, &operator, &known.converged(bed)).await;
    for (kind, name) in [("ClusterSPIFFEID", &known.web), ("ClusterSPIFFEID", &known.legacy)] {
        world.wait_ready(&operator, kind, name, ("True", "Synced")).await;
    }
    world.wait_ready(&operator, "ClusterStaticEntry", &known.static_entry, ("True", "Synced")).await;
    world.wait_ready(&operator, "IdentityPolicy", &known.policy, ("True", "Governing")).await;
    world.wait_ready(&operator, "IdentityException", &known.exception, ("True", "Active")).await;
    let cli = Cli::new(bed, world, &bed.spire_socket());
    let stored = entries(&bed.spire(), &world.prefix).await;
    let id_of = |path: &str| stored.iter().find(|e| e.spiffe_id.path() == path).unwrap().id.clone().unwrap();

    let ran = cli.run("report", &["-o", "json"]);
    assert_eq!(ran.code, 0, "{ran:?}");
    let report = ran.json();
    assert_eq!(report["schemaVersion"], "spire-steward.io/report/v1");
    assert_eq!(report["rows"].as_array().unwrap().len(), 3, "{report}");
    let yaml = cli.run("report", &["-o", "yaml"]);
    let as_yaml: serde_json::Value = serde_yaml_ng::from_str(&yaml.stdout).unwrap();
    // The two commands ran a moment apart, so the time left on an exception may differ by a
    // second; its instant may not.
    assert_eq!(
        without_time_left(&as_yaml["rows"]),
        without_time_left(&report["rows"]),
        "the YAML form carries the same rows"
    );
    let web = row(&report, &format!("spiffe://{td}/web/p-1"));
    assert_eq!(web["entryID"], id_of("/web/p-1").as_str());
    assert_eq!(web["source"], json!({ "kind": "ClusterSPIFFEID", "name": known.web }));
    assert_eq!(web["owner"], json!({ "team": "payments", "contact": "#payments-oncall" }));
    assert_eq!(web["pod"], json!({ "namespace": world.namespace, "name": "p-1" }));
    assert_eq!(
        web["x509TTL"],
        json!({ "effective": "1h0m0s", "boundBy": format!("IdentityPolicy/{} max", known.policy) })
    );
    assert_eq!(web["jwtTTL"], json!({ "boundBy": "SPIRE default" }));
    assert_eq!(web["decision"], "clamped");
    assert_eq!(web["policies"], json!([known.policy]));
    assert_eq!(web["drift"], "InSync");
    assert_eq!(web.get("exception"), None);
    let legacy = row(&report, &format!("spiffe://{td}/legacy/p-2"));
    assert_eq!(legacy["exception"]["name"], known.exception.as_str());
    let left = legacy["exception"]["expires"]["in"].as_str().unwrap();
    assert!(left.starts_with("239h") || left.starts_with("240h"), "{left}");
    assert_eq!(legacy.get("owner"), None);
    assert_eq!(legacy["drift"], "InSync");
    let fixed = row(&report, &format!("spiffe://{td}{}", known.static_path));
    assert_eq!(fixed["source"], json!({ "kind": "ClusterStaticEntry", "name": known.static_entry }));
    assert_eq!(fixed["decision"], "notGoverned");
    assert_eq!(fixed["x509TTL"], json!({ "boundBy": "SPIRE default" }));
    assert_eq!(fixed.get("pod"), None);
    let summary = &report["summary"];
    assert_eq!((&summary["identities"], &summary["inSync"], &summary["clamped"]), (&json!(3), &json!(3), &json!(2)));

    // The counts are the controller's status counters.
    for name in [&known.web, &known.legacy] {
        let status = world.status("ClusterSPIFFEID", name).await;
        let counts = summary["byIdentity"].as_array().unwrap().iter().find(|c| c["name"] == name.as_str()).unwrap();
        for key in
            ["podsSelected", "entriesToSet", "entriesMasked", "entriesDenied", "entriesClamped", "policyViolations"]
        {
            assert_eq!(counts[key], status["stats"][key], "{name} {key}: {counts} vs {status}");
        }
    }
    let status = world.status("IdentityPolicy", &known.policy).await;
    let counts = &summary["byPolicy"][0];
    assert_eq!(counts["name"], known.policy.as_str());
    for key in ["identitiesGoverned", "entriesGoverned", "entriesDenied", "entriesClamped"] {
        assert_eq!(counts[key], status[key], "{key}: {counts} vs {status}");
    }
    assert_eq!(counts["entriesClamped"], 2);
    let status = world.status("IdentityException", &known.exception).await;
    assert_eq!(summary["byException"][0]["entriesRelaxed"], status["entriesRelaxed"], "{status}");
    assert_eq!(summary["byException"][0]["entriesRelaxed"], 1);

    // Table and CSV carry the same rows.
    let ran = cli.run("report", &[]);
    assert_eq!(ran.code, 0, "{ran:?}");
    assert!(ran.stdout.starts_with("SPIFFE ID"), "{}", ran.stdout);
    let line = ran.stdout.lines().find(|l| l.contains("/web/p-1")).unwrap();
    for part in [
        id_of("/web/p-1").as_str().to_owned(),
        "payments <#payments-oncall>".into(),
        format!("1h0m0s (IdentityPolicy/{} max)", known.policy),
        "InSync".into(),
    ] {
        assert!(line.contains(&part), "{line} has {part}");
    }
    assert!(ran.stdout.contains("3 identities: 3 in sync, 0 missing, 0 modified"), "{}", ran.stdout);
    let ran = cli.run("report", &["-o", "csv"]);
    assert_eq!(ran.code, 0, "{ran:?}");
    let lines: Vec<&str> = ran.stdout.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), 4, "{}", ran.stdout);
    assert!(
        lines[0].starts_with("spiffeID,entryID,parentID,selectors,sourceKind,sourceNamespace,sourceName,ownerTeam")
    );
    let web_line = lines.iter().find(|l| l.contains("/web/p-1")).unwrap();
    let fields: Vec<&str> = web_line.split(',').collect();
    assert_eq!(fields[1], id_of("/web/p-1").as_str());
    assert_eq!(
        (fields[4], fields[6], fields[7], fields[8]),
        ("ClusterSPIFFEID", known.web.as_str(), "payments", "#payments-oncall")
    );
    assert_eq!((fields[10], fields[18], fields[20]), ("1h0m0s", "clamped", "InSync"));

    // OpenReports: accepted by the upstream CRDs with strict field validation.
    install_openreports(&world.client).await;
    let ran = cli.run("report", &["-o", "openreports"]);
    assert_eq!(ran.code, 0, "{ran:?}");
    let docs: Vec<Value> = serde_yaml_ng::Deserializer::from_str(&ran.stdout)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .collect();
    assert_eq!(docs.len(), 2, "{}", ran.stdout);
    // Server-side apply with strict field validation: an unknown or duplicate field is an error.
    let strict = PatchParams::apply("spire-steward-tests").validation(ValidationDirective::Strict);
    let mut created = Vec::new();
    for doc in &docs {
        let kind = doc["kind"].as_str().unwrap();
        let resource = ApiResource::from_gvk(&GroupVersionKind::gvk("openreports.io", "v1alpha1", kind));
        let api: Api<DynamicObject> = match doc["metadata"]["namespace"].as_str() {
            Some(ns) => Api::namespaced_with(world.client.clone(), ns, &resource),
            None => Api::all_with(world.client.clone(), &resource),
        };
        let object: DynamicObject = serde_json::from_value(doc.clone()).unwrap();
        let name = object.metadata.name.clone().unwrap();
        let made = api
            .patch(&name, &strict, &Patch::Apply(&object))
            .await
            .unwrap_or_else(|e| panic!("creating {kind} {name}: {e}\n{doc}"));
        let back = api.get(&name).await.unwrap();
        assert_eq!(back.data["results"], doc["results"], "{kind} reads back as written");
        assert_eq!(back.data["summary"], doc["summary"]);
        created.push((api, made.metadata.name.unwrap()));
    }
    let cluster = &docs[0];
    assert_eq!((cluster["kind"].as_str(), cluster["source"].as_str()), (Some("ClusterReport"), Some("spire-steward")));
    assert_eq!(cluster["results"].as_array().unwrap().len(), 1);
    assert_eq!(cluster["results"][0]["result"], "skip");
    assert_eq!(cluster["results"][0]["resources"][0]["name"], known.static_entry.as_str());
    let namespaced = &docs[1];
    assert_eq!(namespaced["kind"], "Report");
    assert_eq!(namespaced["metadata"]["namespace"], world.namespace.as_str());
    let results = namespaced["results"].as_array().unwrap();
    let find = |spiffe: &str, rule: &str| {
        results
            .iter()
            .find(|r| r["properties"]["spiffeID"] == spiffe && r["rule"] == rule)
            .unwrap_or_else(|| panic!("no {rule} result for {spiffe}: {results:?}"))
    };
    let ttl = find(&format!("spiffe://{td}/web/p-1"), "ttl");
    assert_eq!((ttl["policy"].as_str(), ttl["result"].as_str()), (Some(known.policy.as_str()), Some("warn")));
    assert_eq!(ttl["scored"], true);
    let p1 = world.pods().get("p-1").await.unwrap().metadata.uid.unwrap();
    assert_eq!(
        ttl["resources"][0],
        json!({ "apiVersion": "v1", "kind": "Pod", "namespace": world.namespace, "name": "p-1", "uid": p1 })
    );
    assert_eq!(ttl["resources"][1]["kind"], "ClusterSPIFFEID");
    assert_eq!(ttl["properties"]["x509TTL"], "1h0m0s");
    assert_eq!(find(&format!("spiffe://{td}/web/p-1"), "spiffeIDs")["result"], "pass");
    assert_eq!(find(&format!("spiffe://{td}/legacy/p-2"), "exception")["result"], "pass");
    assert_eq!(namespaced["summary"]["fail"], 0);
    assert_eq!(namespaced["summary"]["warn"], 2, "two TTLs set by the policy: {}", namespaced["summary"]);
    // The validation is strict indeed: a field the schema does not have is refused.
    let mut wrong = docs[0].clone();
    wrong["metadata"]["name"] = json!(format!("wrong-{}", world.id));
    wrong["results"] = json!([{ "policy": "p", "subjects": [] }]);
    let refused = created[0].0.patch(&format!("wrong-{}", world.id), &strict, &Patch::Apply(&wrong)).await;
    assert!(refused.is_err_and(|e| e.to_string().contains("subjects")), "an unknown field is refused");
    for (api, name) in created {
        api.delete(&name, &DeleteParams::default()).await.unwrap();
    }

    // Drift behind the operator's back, with the operator stopped: a changed hint, a removed
    // entry, and an entry under the operator's prefix that nothing declares.
    operator.stop();
    let spire = bed.spire();
    let mut changed = stored.iter().find(|e| e.spiffe_id.path() == known.static_path).unwrap().clone();
    changed.hint = "edited".into();
    let hint: EntryMask = [spire_steward::spiffe::EntryField::Hint].into_iter().collect();
    spire.batch_update_entries(&[changed], hint).await.unwrap().remove(0).unwrap();
    spire.batch_delete_entries(&[id_of("/legacy/p-2")]).await.unwrap().remove(0).unwrap();
    let mut stray = stored.iter().find(|e| e.spiffe_id.path() == "/web/p-1").unwrap().clone();
    stray.spiffe_id = spire_steward::spiffe::SpiffeId::parse(&format!("spiffe://{td}/stray/{}", world.id)).unwrap();
    stray.id = Some(spire_steward::spiffe::EntryId::parse(&format!("{}.stray", world.prefix)).unwrap());
    spire.batch_create_entries(&[stray]).await.unwrap();
    let report = eventually(std::time::Duration::from_secs(10), || async {
        let report = cli.run("report", &["-o", "json"]).json();
        (report["summary"]["missing"] == 1).then_some(report)
    })
    .await
    .expect("the deletion shows");
    let fixed = row(&report, &format!("spiffe://{td}{}", known.static_path));
    assert_eq!((&fixed["drift"], &fixed["driftFields"]), (&json!("Modified"), &json!(["hint"])));
    assert_eq!(row(&report, &format!("spiffe://{td}/legacy/p-2"))["drift"], "Missing");
    let stray = row(&report, &format!("spiffe://{td}/stray/{}", world.id));
    assert_eq!((&stray["drift"], &stray["decision"]), (&json!("Unexpected"), &json!("undeclared")));
    assert_eq!(stray["entryID"], format!("{}.stray", world.prefix));
    let s = &report["summary"];
    assert_eq!(
        (&s["inSync"], &s["modified"], &s["missing"], &s["unexpected"]),
        (&json!(1), &json!(1), &json!(1), &json!(1))
    );
    let _ = spire
        .batch_delete_entries(&[spire_steward::spiffe::EntryId::parse(&format!("{}.stray", world.prefix)).unwrap()])
        .await;
    known.clean_up().await;
}

/// With `openReports.enabled` the controller keeps the same objects current in the cluster: the
/// namespace's Report appears with the identities' results, follows a change, and the report of
/// a namespace without identities any more is deleted.
#[tokio::test]
async fn the_controller_keeps_the_open_reports_current() {
    let bed = testbed();
    let known = Known::build(bed).await;
    let world = &known.world;
    install_openreports(&world.client).await;
    let operator = Operator::start(bed, world, &bed.spire_socket(), "openReports:\n  enabled: true\n  interval: 1s\n");
    wait_converged(bed, world, &operator, &known.converged(bed)).await;
    let reports: Api<DynamicObject> = Api::namespaced_with(
        world.client.clone(),
        &world.namespace,
        &ApiResource::from_gvk(&GroupVersionKind::gvk("openreports.io", "v1alpha1", "Report")),
    );
    let name = format!("spire-steward-{}", world.class.to_lowercase());
    let results_of = |report: &DynamicObject| report.data["results"].as_array().cloned().unwrap_or_default();
    let about = |results: &[Value], path: &str| {
        results.iter().filter(|r| r["properties"]["spiffeID"].as_str().is_some_and(|s| s.ends_with(path))).count()
    };
    let found = eventually(std::time::Duration::from_secs(40), || async {
        let report = reports.get(&name).await.ok()?;
        let results = results_of(&report);
        (about(&results, "/web/p-1") > 0 && about(&results, "/legacy/p-2") > 0).then_some(report)
    })
    .await
    .unwrap_or_else(|| panic!("no Report {name} with both identities\nlog:\n{}", operator.log_text()));
    assert_eq!(found.data["source"], "spire-steward");
    assert_eq!(found.metadata.labels.as_ref().unwrap()["app.kubernetes.io/managed-by"], "spire-steward");
    let web: Vec<Value> = results_of(&found)
        .into_iter()
        .filter(|r| r["properties"]["spiffeID"].as_str().unwrap().ends_with("/web/p-1"))
        .collect();
    let ttl = web.iter().find(|r| r["rule"] == "ttl").unwrap_or_else(|| panic!("{web:#?}"));
    assert_eq!((&ttl["policy"], &ttl["result"]), (&json!(known.policy), &json!("warn")), "{ttl}");

    // The legacy identity goes: its results leave the report.
    world.delete("ClusterSPIFFEID", &known.legacy).await;
    let followed = eventually(std::time::Duration::from_secs(40), || async {
        let report = reports.get(&name).await.ok()?;
        let results = results_of(&report);
        (about(&results, "/legacy/p-2") == 0 && about(&results, "/web/p-1") > 0).then_some(())
    })
    .await;
    assert!(followed.is_some(), "the report kept the deleted identity\nlog:\n{}", operator.log_text());

    // No identity selects the namespace's pods any more: its report is deleted.
    world.delete("ClusterSPIFFEID", &known.web).await;
    let gone =
        eventually(std::time::Duration::from_secs(40), || async { reports.get(&name).await.is_err().then_some(()) })
            .await;
    assert!(gone.is_some(), "the report of a namespace without identities stayed\nlog:\n{}", operator.log_text());
    known.clean_up().await;
}
