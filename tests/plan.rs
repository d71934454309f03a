//! `spire-steward plan` on the real servers: nothing to do on a converged world; the creates,
//! updates and deletes (with their reasons and policy decisions) of manifests laid over it; a
//! broken manifest named by file, document and field; drift the operator leaves under
//! `driftPolicy: Report` left out of the writes, as the operator leaves it; and nothing written,
//! anywhere.

mod support;

use serde_json::{Value, json};
use support::{
    cli::{Cli, Known, wait_converged},
    drift::{edit, the_entry, wait_drifted},
    eventually,
    operator::{Operator, World, dynamic, entries},
    testbed,
};

fn ids(list: &Value) -> Vec<String> {
    list.as_array().unwrap().iter().map(|c| c["spiffeID"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn plan_shows_what_a_reconcile_and_a_change_would_write_and_writes_nothing() {
    let bed = testbed();
    let known = Known::build(bed).await;
    let world = &known.world;
    let td = bed.trust_domain();
    let mut operator = Operator::start(bed, world, &bed.spire_socket(), "");
    wait_converged(bed, world, &operator, &known.converged(bed)).await;
    operator.stop();
    let before = entries(&bed.spire(), &world.prefix).await;
    let cli = Cli::new(bed, world, &bed.spire_socket());

    // Converged: nothing to write, and the policy's decisions are listed.
    let ran = cli.run("plan", &[]);
    assert_eq!(ran.code, 0, "{ran:?}");
    assert!(ran.stdout.contains("No changes"), "{}", ran.stdout);
    assert!(ran.stdout.contains("0 to create, 0 to update, 0 to delete"), "{}", ran.stdout);
    let clamp_line = format!(
        "clamped spiffe://{td}/web/p-1 (ClusterSPIFFEID/{} pod {}/p-1): x509 TTL 2h0m0s requested, 1h0m0s written \
         (IdentityPolicy/{} max)",
        known.web, world.namespace, known.policy
    );
    assert!(ran.stdout.contains(&clamp_line), "{}\nwant: {clamp_line}", ran.stdout);

    let ran = cli.run("plan", &["-o", "json"]);
    assert_eq!(ran.code, 0, "{ran:?}");
    let plan = ran.json();
    assert_eq!(plan["schemaVersion"], "spire-steward.io/plan/v1");
    // The YAML form carries the same fields.
    let yaml = cli.run("plan", &["-o", "yaml"]);
    assert_eq!(yaml.code, 0, "{yaml:?}");
    let as_yaml: serde_json::Value = serde_yaml_ng::from_str(&yaml.stdout).unwrap();
    assert_eq!(as_yaml, plan);
    for list in ["creates", "updates", "deletes", "kept", "foreignConflicts", "denied"] {
        assert_eq!(plan[list], json!([]), "{list}: {plan}");
    }
    let clamped = plan["clamped"].as_array().unwrap();
    assert_eq!(clamped.len(), 2, "{plan}");
    assert_eq!(
        clamped[1],
        json!({
            "spiffeID": format!("spiffe://{td}/web/p-1"),
            "source": { "kind": "ClusterSPIFFEID", "name": known.web },
            "pod": { "namespace": world.namespace, "name": "p-1" },
            "svid": "x509",
            "requested": "2h0m0s",
            "effective": "1h0m0s",
            "boundBy": format!("IdentityPolicy/{} max", known.policy),
        })
    );
    assert_eq!(clamped[0]["spiffeID"], format!("spiffe://{td}/legacy/p-2"));
    assert_eq!(clamped[0]["requested"], Value::Null, "an unset TTL gets the maximum");
    assert_eq!(
        plan["summary"],
        json!({ "create": 0, "update": 0, "delete": 0, "kept": 0, "foreignConflicts": 0, "denied": 0,
                "auditViolations": 0, "clamped": 2, "driftLeft": 0 })
    );

    // A new pod identity and a changed TTL: one create, one update.
    let api = world.identity_name("api");
    let change = cli.manifest(
        "change.yaml",
        &format!(
            "apiVersion: spire-steward.io/v1alpha1\nkind: ClusterSPIFFEID\nmetadata:\n  name: {api}\nspec:\n  \
             className: {class}\n  spiffeIDTemplate: 'spiffe://{{{{ .TrustDomain }}}}/web/api/{{{{ .PodMeta.Name }}}}'\n  \
             namespaceSelector: {{matchLabels: {{spire-steward-test: {id}}}}}\n  podSelector: {{matchLabels: {{app: db}}}}\n\
             ---\napiVersion: spire-steward.io/v1alpha1\nkind: ClusterSPIFFEID\nmetadata:\n  name: {web}\nspec:\n  \
             className: {class}\n  spiffeIDTemplate: 'spiffe://{{{{ .TrustDomain }}}}/web/{{{{ .PodMeta.Name }}}}'\n  \
             namespaceSelector: {{matchLabels: {{spire-steward-test: {id}}}}}\n  podSelector: {{matchLabels: {{app: web}}}}\n  \
             ttl: 30m\n  owner: {{team: payments}}\n",
            class = world.class,
            id = world.id,
            web = known.web,
        ),
    );
    let ran = cli.run("plan", &["-o", "json", "-f", change.to_str().unwrap()]);
    assert_eq!(ran.code, 2, "{ran:?}");
    let plan = ran.json();
    assert_eq!(ids(&plan["creates"]), [format!("spiffe://{td}/web/api/p-2")], "{plan}");
    let create = &plan["creates"][0];
    assert_eq!(create["source"], json!({ "kind": "ClusterSPIFFEID", "name": api }));
    assert_eq!(create["pod"], json!({ "namespace": world.namespace, "name": "p-2" }));
    assert_eq!(create["reason"], "Declared");
    assert!(create["entryID"].as_str().unwrap().starts_with(&format!("{}.", world.prefix)), "{create}");
    assert_eq!(ids(&plan["updates"]), [format!("spiffe://{td}/web/p-1")], "{plan}");
    assert_eq!(plan["updates"][0]["fields"], json!(["x509SVIDTTL"]));
    assert_eq!(plan["updates"][0]["reason"], "Changed");
    let web_id = before.iter().find(|e| e.spiffe_id.path() == "/web/p-1").unwrap().id.clone().unwrap();
    assert_eq!(plan["updates"][0]["entryID"], web_id.as_str());
    assert_eq!(plan["deletes"], json!([]));
    assert_eq!(plan["summary"]["create"], 1);
    assert_eq!(plan["summary"]["update"], 1);

    let ran = cli.run("plan", &["-f", change.to_str().unwrap()]);
    assert_eq!(ran.code, 2, "{ran:?}");
    let line = ran.stdout.lines().find(|l| l.starts_with("create")).expect("a create line");
    for part in [format!("spiffe://{td}/web/api/p-2"), format!("ClusterSPIFFEID/{api}"), "Declared pod".into()] {
        assert!(line.contains(&part), "{line} has {part}");
    }
    let line = ran.stdout.lines().find(|l| l.starts_with("update")).expect("an update line");
    assert!(line.contains("Changed (x509SVIDTTL)"), "{line}");
    assert!(ran.stdout.contains("1 to create, 1 to update, 0 to delete"), "{}", ran.stdout);

    // A directory with a policy that denies the existing identity, beside a Deployment.
    let deny = world.identity_name("deny");
    cli.manifest(
        "review/sub/policy.yaml",
        &format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web}}\n---\n\
             apiVersion: spire-steward.io/v1alpha1\nkind: IdentityPolicy\nmetadata: {{name: {deny}}}\nspec:\n  \
             className: {class}\n  match: {{namespaceSelector: {{matchLabels: {{spire-steward-test: {id}}}}}}}\n  \
             spiffeIDs: {{deny: ['/web/**']}}\n",
            class = world.class,
            id = world.id
        ),
    );
    cli.manifest("review/notes.txt", "not a manifest");
    let dir = cli.config.with_extension("").join("review");
    let ran = cli.run("plan", &["-o", "json", "-f", dir.to_str().unwrap()]);
    assert_eq!(ran.code, 2, "{ran:?}");
    assert!(ran.stderr.contains("document 1: left out Deployment of apps/v1"), "{}", ran.stderr);
    let plan = ran.json();
    assert_eq!(ids(&plan["deletes"]), [format!("spiffe://{td}/web/p-1")], "{plan}");
    let delete = &plan["deletes"][0];
    assert_eq!(delete["reason"], "PolicyDenied");
    assert_eq!(delete["entryID"], web_id.as_str());
    assert_eq!(delete["source"], json!({ "kind": "ClusterSPIFFEID", "name": known.web }));
    assert_eq!(delete["detail"], format!("IdentityPolicy {deny} rule SpiffeIDDenied: /web/p-1"));
    assert_eq!(
        plan["denied"],
        json!([{
            "spiffeID": format!("spiffe://{td}/web/p-1"),
            "source": { "kind": "ClusterSPIFFEID", "name": known.web },
            "pod": { "namespace": world.namespace, "name": "p-1" },
            "policy": deny,
            "rule": "SpiffeIDDenied",
            "value": "/web/p-1",
            "enforced": true,
        }])
    );
    let ran = cli.run("plan", &["-f", dir.to_str().unwrap()]);
    assert_eq!(ran.code, 2);
    assert!(ran.stdout.contains(&format!("denied  spiffe://{td}/web/p-1")), "{}", ran.stdout);
    assert!(ran.stdout.contains("0 to create, 0 to update, 1 to delete"), "{}", ran.stdout);

    // A manifest with a field of the wrong type: exit 1, naming the file, document and field.
    let bad = cli.manifest(
        "bad.yaml",
        &format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: x}}\n---\napiVersion: spire-steward.io/v1alpha1\n\
             kind: ClusterSPIFFEID\nmetadata: {{name: {api}}}\nspec:\n  className: {}\n  spiffeIDTemplate: x\n  \
             suspend: maybe\n",
            world.class
        ),
    );
    let ran = cli.run("plan", &["-f", bad.to_str().unwrap()]);
    assert_eq!(ran.code, 1, "{ran:?}");
    let want = format!("{}: document 2: ClusterSPIFFEID {api}: field spec.suspend (value \"maybe\")", bad.display());
    assert!(ran.stderr.contains(&want), "{}\nwant: {want}", ran.stderr);
    assert!(ran.stdout.is_empty(), "{}", ran.stdout);

    // Nothing was written: SPIRE's entries are as they were, and no object was created.
    assert_eq!(entries(&bed.spire(), &world.prefix).await, before);
    assert!(dynamic(&world.client, "ClusterSPIFFEID").get_opt(&api).await.unwrap().is_none());
    assert!(dynamic(&world.client, "IdentityPolicy").get_opt(&deny).await.unwrap().is_none());
    let web = dynamic(&world.client, "ClusterSPIFFEID").get(&known.web).await.unwrap();
    assert_eq!(web.data["spec"]["ttl"], "2h", "the user's spec is unchanged");
    known.clean_up().await;
}

/// Under `driftPolicy: Report` the operator records an entry edited behind its back and leaves it
/// as it is. `plan` reads that record from the operator's state ConfigMap, as a restarted operator
/// does: the edit is listed as drift left, not as an update, and the plan has no changes (exit
/// code 0). Without the record, the same edit is the update that would undo it (exit code 2).
#[tokio::test]
async fn plan_leaves_out_the_repairs_the_operator_withholds_under_report() {
    let bed = testbed();
    let world = World::with_one_pod(bed, "web").await;
    let name = world.identity_name("web");
    let mut operator = Operator::start(bed, &world, &bed.spire_socket(), "driftPolicy: Report\n");
    world.wait_ready(&operator, "ClusterSPIFFEID", &name, ("True", "Synced")).await;
    let entry = the_entry(&world, &operator).await;
    let id = entry.id.clone().unwrap();
    edit(&bed.spire(), &entry).await;
    wait_drifted(&world, &operator, "ClusterSPIFFEID", &name, Some("1 entry Modified")).await;
    let states: kube::Api<k8s_openapi::api::core::v1::ConfigMap> =
        kube::Api::namespaced(world.client.clone(), &world.namespace);
    let state = format!("{}-state", world.lease());
    let recorded = eventually(std::time::Duration::from_secs(30), || async {
        let text = states.get_opt(&state).await.unwrap()?.data?.remove("drift.json")?;
        text.contains(id.as_str()).then_some(())
    })
    .await;
    assert!(recorded.is_some(), "the state never recorded the edit\nlog:\n{}", operator.log_text());
    operator.stop();

    // The command runs with the operator's configuration.
    let cli = Cli::with_config(bed, &world, &bed.spire_socket(), "driftPolicy: Report\n");
    let ran = cli.run("plan", &["-o", "json"]);
    assert_eq!(ran.code, 0, "the operator writes nothing: {ran:?}");
    let plan = ran.json();
    assert_eq!(plan["updates"], json!([]), "{plan}");
    assert_eq!(
        plan["driftLeft"],
        json!([{
            "spiffeID": entry.spiffe_id.to_string(),
            "entryID": id.as_str(),
            "class": "Modified",
            "fields": ["x509SVIDTTL", "dnsNames"],
            "source": { "kind": "ClusterSPIFFEID", "name": name },
            "pod": plan["driftLeft"][0]["pod"].clone(),
        }]),
        "{plan}"
    );
    assert_eq!(plan["driftLeft"][0]["pod"]["namespace"], world.namespace.as_str());
    assert_eq!(plan["summary"]["driftLeft"], 1);
    let table = cli.run("plan", &[]);
    assert_eq!(table.code, 0, "{table:?}");
    assert!(table.stdout.contains("Drift left as it is (driftPolicy Report):"), "{}", table.stdout);
    assert!(
        table.stdout.contains(&format!(
            "  Modified {} entry {id} (ClusterSPIFFEID/{name}) (x509SVIDTTL, dnsNames)",
            entry.spiffe_id
        )),
        "{}",
        table.stdout
    );
    assert!(table.stdout.contains("0 to update"), "{}", table.stdout);
    assert!(table.stdout.starts_with("No writes: SPIRE is as declared but for the drift left"), "{}", table.stdout);
    // Under Enforce in observe mode the repair is a write the operator would count, not make:
    // one update, and no drift left.
    let observing = Cli::with_config(bed, &world, &bed.spire_socket(), "mode: Observe\n");
    let ran = observing.run("plan", &["-o", "json"]);
    assert_eq!(ran.code, 2, "{ran:?}");
    let plan = ran.json();
    assert_eq!(
        (plan["summary"]["update"].as_u64(), plan["summary"]["driftLeft"].as_u64()),
        (Some(1), Some(0)),
        "{plan}"
    );

    // Without the record the edit is a difference like any other: the update that undoes it.
    states.delete(&state, &Default::default()).await.unwrap();
    let ran = cli.run("plan", &["-o", "json"]);
    assert_eq!(ran.code, 2, "{ran:?}");
    let plan = ran.json();
    assert_eq!(plan["driftLeft"], json!([]));
    assert_eq!(plan["updates"][0]["entryID"], id.as_str(), "{plan}");
    assert_eq!(plan["updates"][0]["fields"], json!(["x509SVIDTTL", "dnsNames"]));
    let note = format!("no drift recorded by the operator (ConfigMap {}/{state} holds none", world.namespace);
    assert!(plan["notes"].as_array().unwrap().iter().any(|n| n.as_str().unwrap().starts_with(&note)), "{plan}");
    world.clean_up().await;
}
