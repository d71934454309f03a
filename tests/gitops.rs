//! GitOps health on the real servers. The operator is driven into each state a GitOps tool must
//! tell apart (just applied, reconciling, ready, stalled, SPIRE away, suspended, deleting, denied
//! by policy, an exception expiring or expired), each object is read back from the API server as
//! JSON, and three readers judge it:
//!
//! - the Argo CD health script of `resource_customizations/spire-steward.io/<Kind>/`, run by
//!   `hack/tools/argocd-lua` as Argo CD runs it (with and without Argo CD's open libraries);
//! - kstatus (`hack/tools/kstatus`), what Flux health checks use for kinds without expressions;
//! - the Flux `healthCheckExprs` of `deploy/flux/health-check-exprs.yaml`, evaluated by Flux's
//!   own evaluator (`hack/tools/cel`).
//!
//! The Argo CD suspend and resume actions run on live objects and their results are applied back
//! as Argo CD applies them (a merge patch); the operator then reports Suspended, and Ready again.
//!
//! Captures go to `target/gitops-captures/`. With `SPIRE_STEWARD_CAPTURE_TESTDATA=1` the live tests
//! also rewrite the Argo CD testdata (`testdata/`, `health_test.yaml`, `actions/`) from what they
//! captured, with stable names and without server noise; every run checks that the checked-in
//! testdata still reads as `health_test.yaml` and `action_test.yaml` say.

#[path = "gitops/harness.rs"]
mod harness;
mod support;

use harness::*;
use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use k8s_openapi::jiff::Timestamp;
use kube::api::{DeleteParams, Patch, PatchParams};
use serde_json::{Value, json};
use support::{
    PrivateSpireServer, eventually,
    operator::{Operator, World, entries},
    repo_root, testbed,
};

// --- The states ----------------------------------------------------------------------------

const PROGRESSING: Want = want("Progressing", "InProgress", "InProgress", "");

fn pod_identity(world: &World, path: &str, app: &str) -> Value {
    json!({
        "className": world.class,
        "spiffeIDTemplate": format!("spiffe://{{{{ .TrustDomain }}}}/{path}/{{{{ .PodMeta.Name }}}}"),
        "namespaceSelector": world.namespace_selector(),
        "podSelector": { "matchLabels": { "app": app } },
    })
}

/// Every kind from its first apply to its deletion, on the testbed's SPIRE: just applied, ready,
/// reconciling, stalled by a template that does not parse and by one that fails to render,
/// suspended and resumed through the Argo CD actions, deletion held by a finalizer, a spec change
/// the stopped operator has not seen, and observe mode.
#[tokio::test]
async fn every_kind_reads_right_from_first_apply_to_deletion() {
    tools();
    let bed = testbed();
    let mut world = World::new(bed).await;
    world.node("node").await;
    let pod_uid = world.pod("web-1", &[("app", "web")], Some("node")).await;
    // Its node never comes: the identity selecting it waits for an input.
    world.pod("lost-1", &[("app", "lost")], Some("ghost")).await;
    let mut judge = Judge::new(&world);
    let td = bed.trust_domain().to_owned();
    let name = |n: &str| world.identity_name(n);
    let (web, lost, parse, render, held) = (name("web"), name("lost"), name("parse"), name("render"), name("held"));
    let (tenant, static_entry, fed, observed_id) = (name("tenant"), name("static"), name("fed"), name("observed"));
    let fed_td = format!("fed-{}.test", world.id);

    apply(&world, "ClusterSPIFFEID", &web, pod_identity(&world, "pod", "web")).await;
    apply(&world, "ClusterSPIFFEID", &lost, pod_identity(&world, "lost", "lost")).await;
    let mut broken = pod_identity(&world, "parse", "web");
    broken["spiffeIDTemplate"] = json!("spiffe://{{ .TrustDomain }}/parse/{{ .PodMeta.Name");
    apply(&world, "ClusterSPIFFEID", &parse, broken).await;
    let mut unrenderable = pod_identity(&world, "render", "web");
    unrenderable["spiffeIDTemplate"] =
        json!("spiffe://{{ .TrustDomain }}/render/{{ (index .PodSpec.Containers 5).Name }}");
    apply(&world, "ClusterSPIFFEID", &render, unrenderable).await;
    apply(&world, "ClusterSPIFFEID", &held, pod_identity(&world, "held", "web")).await;
    let mut tenant_spec = pod_identity(&world, "ns", "web");
    tenant_spec.as_object_mut().unwrap().remove("namespaceSelector");
    tenant_spec["spiffeIDTemplate"] =
        json!("spiffe://{{ .TrustDomain }}/ns/{{ .PodMeta.Namespace }}/{{ .PodMeta.Name }}");
    apply(&world, "SPIFFEID", &tenant, tenant_spec).await;
    apply(
        &world,
        "ClusterStaticEntry",
        &static_entry,
        json!({
            "className": world.class,
            "spiffeID": format!("spiffe://{td}/static/{}", world.id),
            "parentID": format!("spiffe://{td}/spire/agent/x"),
            "selectors": [format!("k8s:pod-uid:{pod_uid}"), "k8s:container-name:sidecar"],
        }),
    )
    .await;
    apply(
        &world,
        "ClusterFederatedTrustDomain",
        &fed,
        json!({
            "className": world.class,
            "trustDomain": fed_td,
            "bundleEndpointURL": "https://127.0.0.1:8443/bundle",
            "bundleEndpointProfile": { "type": "https_web" },
        }),
    )
    .await;
    let objects = [
        ("ClusterSPIFFEID", web.as_str()),
        ("ClusterSPIFFEID", lost.as_str()),
        ("ClusterSPIFFEID", parse.as_str()),
        ("ClusterSPIFFEID", render.as_str()),
        ("ClusterSPIFFEID", held.as_str()),
        ("ClusterSPIFFEID", observed_id.as_str()),
        ("SPIFFEID", tenant.as_str()),
        ("ClusterStaticEntry", static_entry.as_str()),
        ("ClusterFederatedTrustDomain", fed.as_str()),
    ];

    // Before any operator saw them: no status. kstatus calls that Current, which is why Flux
    // needs the expressions; they cannot be evaluated without a status, so Flux says Unknown.
    let applied = want("Progressing", "Current", "Unknown", "Waiting for the operator");
    for (kind, name) in [
        ("ClusterSPIFFEID", &web),
        ("SPIFFEID", &tenant),
        ("ClusterStaticEntry", &static_entry),
        ("ClusterFederatedTrustDomain", &fed),
    ] {
        judge.state(kind, name, "applied", applied).await;
    }

    let mut operator = Operator::start(bed, &world, &bed.spire_socket(), "");
    let healthy = want("Healthy", "Current", "Current", "");
    let stalled = want("Degraded", "Failed", "Failed", "");
    let mut synced = BTreeMap::new();
    for (kind, name) in [
        ("ClusterSPIFFEID", &web),
        ("SPIFFEID", &tenant),
        ("ClusterStaticEntry", &static_entry),
        ("ClusterFederatedTrustDomain", &fed),
    ] {
        wait_ready(&world, &operator, kind, name, ("True", "Synced")).await;
        synced.insert(kind, judge.state(kind, name, "synced", healthy).await);
    }
    wait_ready(&world, &operator, "ClusterSPIFFEID", &lost, ("False", "InputsIncomplete")).await;
    judge
        .state(
            "ClusterSPIFFEID",
            &lost,
            "reconciling",
            want("Progressing", "InProgress", "InProgress", "wait for inputs"),
        )
        .await;
    wait_ready(&world, &operator, "ClusterSPIFFEID", &parse, ("False", "InvalidSpec")).await;
    judge.state("ClusterSPIFFEID", &parse, "invalid-template", Want { message: "parse error", ..stalled }).await;
    wait_ready(&world, &operator, "ClusterSPIFFEID", &render, ("False", "InvalidSpec")).await;
    judge.state("ClusterSPIFFEID", &render, "render-failed", Want { message: "failed to render", ..stalled }).await;

    // Suspend and resume through the Argo CD actions.
    for kind in SUSPENDABLE {
        let name = if kind == "SPIFFEID" { &tenant } else { &web };
        run_action(&judge, kind, name, "suspend", &synced[kind]).await;
        wait_ready(&world, &operator, kind, name, ("True", "Suspended")).await;
        let suspended =
            judge.state(kind, name, "suspended", want("Suspended", "Current", "Current", "suspended")).await;
        run_action(&judge, kind, name, "resume", &suspended).await;
        wait_ready(&world, &operator, kind, name, ("True", "Synced")).await;
        if capturing() {
            write_action_testdata(&judge, kind, &synced[kind], &suspended);
        }
    }

    // Deletion held by a finalizer: Terminating, whatever the conditions say.
    let hold = json!({ "metadata": { "finalizers": [HOLD] } });
    api(&world, "ClusterSPIFFEID").patch(&held, &PatchParams::default(), &Patch::Merge(&hold)).await.unwrap();
    api(&world, "ClusterSPIFFEID").delete(&held, &DeleteParams::default()).await.unwrap();
    let deleting = want("Progressing", "Terminating", "InProgress", HOLD);
    judge.state("ClusterSPIFFEID", &held, "deleting", deleting).await;
    let release = json!({ "metadata": { "finalizers": null } });
    api(&world, "ClusterSPIFFEID").patch(&held, &PatchParams::default(), &Patch::Merge(&release)).await.unwrap();

    // The operator is down: a spec change it has not seen, and a deletion its finalizer holds.
    operator.stop();
    let mut changed = pod_identity(&world, "pod", "web");
    changed["dnsNameTemplates"] = json!(["web.example"]);
    apply(&world, "ClusterSPIFFEID", &web, changed).await;
    judge
        .state(
            "ClusterSPIFFEID",
            &web,
            "stale-generation",
            Want { message: "Waiting for the operator to observe generation", ..PROGRESSING },
        )
        .await;
    api(&world, "ClusterFederatedTrustDomain").delete(&fed, &DeleteParams::default()).await.unwrap();
    let deleting = want("Progressing", "Terminating", "InProgress", "spire-steward.io/federation-relationship");
    judge.state("ClusterFederatedTrustDomain", &fed, "deleting", deleting).await;

    // In observe mode the operator plans and writes nothing: an identity waits for a person to
    // switch the mode, so Argo CD shows it Suspended; kstatus and Flux read Ready=False alone as
    // InProgress and wait until their timeout.
    apply(&world, "ClusterSPIFFEID", &observed_id, pod_identity(&world, "observed", "web")).await;
    let observer = Operator::start(bed, &world, &bed.spire_socket(), "mode: Observe\n");
    wait_ready(&world, &observer, "ClusterSPIFFEID", &observed_id, ("False", "Observing")).await;
    let observing = want("Suspended", "InProgress", "InProgress", "observe mode");
    judge.state("ClusterSPIFFEID", &observed_id, "observing", observing).await;
    drop(observer);

    // Back up: the relationship goes and the finalizer with it; then the rest is removed.
    let operator = Operator::start(bed, &world, &bed.spire_socket(), "");
    wait_ready(&world, &operator, "ClusterSPIFFEID", &web, ("True", "Synced")).await;
    let released = eventually(WAIT, || async {
        live_opt(&world, "ClusterFederatedTrustDomain", &fed).await.is_none().then_some(())
    })
    .await;
    assert!(released.is_some(), "the federation finalizer was never released\n{}", operator.log_text());
    delete_all(&world, &objects).await;
    let spire = bed.spire();
    let emptied = eventually(WAIT, || async { entries(&spire, &world.prefix).await.is_empty().then_some(()) }).await;
    assert!(emptied.is_some(), "entries left after the resources were deleted\n{}", operator.log_text());
    drop(operator);
    world.clean_up().await;
    judge.finish();
}

/// SPIRE going away under a running operator (a private server, stopped): a ready identity waits
/// and says why, with and without a change still to write, while a broken identity stays failed,
/// and a broken change made during the outage fails too. An operator restarted during the outage
/// changes none of that.
#[tokio::test]
async fn a_spire_outage_is_progress_for_the_healthy_and_failure_for_the_broken() {
    tools();
    let bed = testbed();
    let server = PrivateSpireServer::start(bed);
    let mut world = World::new(bed).await;
    world.node("node").await;
    let pod_uid = world.pod("web-1", &[("app", "web")], Some("node")).await;
    let mut judge = Judge::new(&world);
    judge.mask(server.dir.display().to_string(), "/run/spire/server");
    let td = bed.trust_domain().to_owned();
    let name = |n: &str| world.identity_name(n);
    let (steady, broken, later, static_entry) = (name("steady"), name("broken"), name("later"), name("static"));
    apply(&world, "ClusterSPIFFEID", &steady, pod_identity(&world, "pod", "web")).await;
    let mut unrenderable = pod_identity(&world, "broken", "web");
    unrenderable["spiffeIDTemplate"] =
        json!("spiffe://{{ .TrustDomain }}/broken/{{ (index .PodSpec.Containers 5).Name }}");
    apply(&world, "ClusterSPIFFEID", &broken, unrenderable).await;
    apply(&world, "ClusterSPIFFEID", &later, pod_identity(&world, "later", "web")).await;
    apply(
        &world,
        "ClusterStaticEntry",
        &static_entry,
        json!({
            "className": world.class,
            "spiffeID": format!("spiffe://{td}/static/{}", world.id),
            "parentID": format!("spiffe://{td}/spire/agent/x"),
            "selectors": [format!("k8s:pod-uid:{pod_uid}")],
        }),
    )
    .await;
    let operator = Operator::start(bed, &world, &server.socket(), "");
    for name in [&steady, &later] {
        wait_ready(&world, &operator, "ClusterSPIFFEID", name, ("True", "Synced")).await;
    }
    wait_ready(&world, &operator, "ClusterStaticEntry", &static_entry, ("True", "Synced")).await;
    wait_ready(&world, &operator, "ClusterSPIFFEID", &broken, ("False", "InvalidSpec")).await;

    server.run("stop");
    let waiting = want("Progressing", "InProgress", "InProgress", "");
    wait_ready(&world, &operator, "ClusterSPIFFEID", &steady, ("False", "SpireUnavailable")).await;
    judge.state("ClusterSPIFFEID", &steady, "spire-unavailable", waiting).await;
    wait_ready(&world, &operator, "ClusterStaticEntry", &static_entry, ("False", "SpireUnavailable")).await;
    judge.state("ClusterStaticEntry", &static_entry, "spire-unavailable", waiting).await;
    // The broken identity had several passes without SPIRE by now: it stays failed.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let stalled = want("Degraded", "Failed", "Failed", "failed to render");
    judge.state("ClusterSPIFFEID", &broken, "spire-unavailable-stalled", stalled).await;

    // A change to write while SPIRE is away: still progress.
    let mut changed = pod_identity(&world, "pod", "web");
    changed["dnsNameTemplates"] = json!(["web.example"]);
    apply(&world, "ClusterSPIFFEID", &steady, changed).await;
    settle(&world, "ClusterSPIFFEID", &steady, Duration::from_secs(15)).await;
    judge.state("ClusterSPIFFEID", &steady, "spire-unavailable-pending", waiting).await;
    // A change that does not parse, made while SPIRE is away: no SPIRE answer can fix it.
    let mut unparsable = pod_identity(&world, "later", "web");
    unparsable["spiffeIDTemplate"] = json!("spiffe://{{ .TrustDomain }}/later/{{ .PodMeta.Name");
    apply(&world, "ClusterSPIFFEID", &later, unparsable).await;
    settle(&world, "ClusterSPIFFEID", &later, Duration::from_secs(15)).await;
    let invalid = want("Degraded", "Failed", "Failed", "parse error");
    judge.state("ClusterSPIFFEID", &later, "spire-unavailable-invalid", invalid).await;

    // The operator restarts while SPIRE is still away (a node drained during SPIRE maintenance):
    // what was broken is still broken, what was waiting still waits.
    drop(operator);
    let operator = Operator::start(bed, &world, &server.socket(), "");
    let restarted =
        eventually(Duration::from_secs(30), || async { operator.log_text().contains("SPIRE").then_some(()) }).await;
    assert!(restarted.is_some(), "the restarted operator never tried SPIRE\n{}", operator.log_text());
    tokio::time::sleep(Duration::from_secs(6)).await;
    judge.state("ClusterSPIFFEID", &steady, "spire-unavailable-restarted", waiting).await;
    judge.state("ClusterSPIFFEID", &broken, "spire-unavailable-restarted-stalled", stalled).await;
    judge.state("ClusterSPIFFEID", &later, "spire-unavailable-restarted-invalid", invalid).await;

    drop(operator);
    let objects = [
        ("ClusterSPIFFEID", steady.as_str()),
        ("ClusterSPIFFEID", broken.as_str()),
        ("ClusterSPIFFEID", later.as_str()),
        ("ClusterStaticEntry", static_entry.as_str()),
    ];
    delete_all(&world, &objects).await;
    world.clean_up().await;
    judge.finish();
}

/// Restarted while SPIRE denies it (over TCP with an SVID of a workload that is not an admin), the
/// operator cannot list its entries and processes nothing. An identity that was ready waits, as
/// for any outage; one whose template fails to render for its pods is still broken, as no answer
/// from SPIRE can fix it, and should read as failed, as it does when SPIRE goes away under a
/// running operator.
#[tokio::test]
async fn a_broken_identity_stays_failed_while_spire_denies_a_restarted_operator() {
    tools();
    let bed = testbed();
    let spire = bed.spire();
    let mut world = World::new(bed).await;
    world.node("node").await;
    world.pod("web-1", &[("app", "web")], Some("node")).await;
    let mut judge = Judge::new(&world);
    let (steady, broken) = (world.identity_name("steady"), world.identity_name("broken"));
    apply(&world, "ClusterSPIFFEID", &steady, pod_identity(&world, "pod", "web")).await;
    let mut unrenderable = pod_identity(&world, "broken", "web");
    unrenderable["spiffeIDTemplate"] =
        json!("spiffe://{{ .TrustDomain }}/broken/{{ (index .PodSpec.Containers 5).Name }}");
    apply(&world, "ClusterSPIFFEID", &broken, unrenderable).await;
    let first = Operator::start(bed, &world, &bed.spire_socket(), "");
    wait_ready(&world, &first, "ClusterSPIFFEID", &steady, ("True", "Synced")).await;
    wait_ready(&world, &first, "ClusterSPIFFEID", &broken, ("False", "InvalidSpec")).await;
    drop(first);

    // The same operator, now over TCP as a plain workload of the testbed's agent.
    let binary = world.own_binary("gitops");
    let td = bed.trust_domain();
    let mut entry = spire_steward::spiffe::Entry::new(
        spire_steward::spiffe::SpiffeId::parse(&format!("spiffe://{td}/steward-plain/{}", world.id)).unwrap(),
        spire_steward::spiffe::SpiffeId::parse(bed.var("SPIRE_AGENT_ID")).unwrap(),
        vec![spire_steward::spiffe::Selector::parse(&format!("unix:path:{}", binary.display())).unwrap()],
    );
    let entry_id = spire_steward::spiffe::EntryId::parse(&format!("plain_{}", world.prefix)).unwrap();
    entry.id = Some(entry_id.clone());
    let created = spire.batch_create_entries(&[entry]).await.unwrap();
    assert!(matches!(created[0], spire_steward::spire::CreateOutcome::Created(_)), "{:?}", created[0]);
    let tcp = format!(
        "spireServerAddress: {}\nspireAgentSocketPath: {}\n",
        bed.var("SPIRE_SERVER_ADDRESS"),
        bed.var("SPIRE_AGENT_SOCKET")
    );
    let config = Operator::write_config(bed, &world, Path::new("/nonexistent/api.sock"), &tcp, "tcp");
    let mut command = Command::new(&binary);
    command
        .args(["run", "--config", config.to_str().unwrap()])
        .env("KUBECONFIG", bed.var("KUBECONFIG_OPERATOR"))
        .env("POD_NAME", format!("{}-tcp", world.id));
    let operator = Operator::spawn(command, &world, "tcp");
    let denied = eventually(WAIT, || async { operator.log_text().contains("PermissionDenied").then_some(()) }).await;
    assert!(denied.is_some(), "SPIRE never denied the operator\n{}", operator.log_text());
    wait_ready(&world, &operator, "ClusterSPIFFEID", &steady, ("False", "SpireUnavailable")).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let waiting = want("Progressing", "InProgress", "InProgress", "PermissionDenied");
    judge.state("ClusterSPIFFEID", &steady, "spire-denied-restarted", waiting).await;
    let stalled = want("Degraded", "Failed", "Failed", "failed to render");
    judge.state("ClusterSPIFFEID", &broken, "spire-denied-restarted-stalled", stalled).await;

    // Clean-up by an operator SPIRE trusts.
    drop(operator);
    let _ = spire.batch_delete_entries(&[entry_id]).await;
    let operator = Operator::start(bed, &world, &bed.spire_socket(), "");
    delete_all(&world, &[("ClusterSPIFFEID", steady.as_str()), ("ClusterSPIFFEID", broken.as_str())]).await;
    let emptied = eventually(WAIT, || async { entries(&spire, &world.prefix).await.is_empty().then_some(()) }).await;
    assert!(emptied.is_some(), "entries left after the resources were deleted\n{}", operator.log_text());
    drop(operator);
    world.clean_up().await;
    judge.finish();
}

/// Governance: a policy that governs and one that is invalid, an identity the policy denies, and
/// exceptions in force, expiring soon (a warning, not a failure) and expired.
#[tokio::test]
async fn policies_and_exceptions_read_right_through_expiry() {
    tools();
    let bed = testbed();
    let mut world = World::new(bed).await;
    world.node("node").await;
    world.pod("p-1", &[("app", "web")], Some("node")).await;
    let mut judge = Judge::new(&world);
    let name = |n: &str| world.identity_name(n);
    let (strict, invalid, denied) = (name("strict"), name("invalid"), name("denied"));
    let (soon, gone, later) = (name("soon"), name("gone"), name("later"));
    let (exc_soon, exc_gone, exc_later) = (name("exc-soon"), name("exc-gone"), name("exc-later"));
    let policy = |rest: Value| {
        let mut spec =
            json!({ "className": world.class, "match": { "namespaceSelector": world.namespace_selector() } });
        spec.as_object_mut().unwrap().extend(rest.as_object().unwrap().clone());
        spec
    };
    apply(&world, "IdentityPolicy", &strict, policy(json!({ "spiffeIDs": { "allow": ["/ns/**"] } }))).await;
    let mut broken = policy(json!({ "spiffeIDs": { "allow": ["/ns/**"] } }));
    broken["match"]["selector"] = json!({ "matchExpressions": [{ "key": "tier", "operator": "Sometimes" }] });
    apply(&world, "IdentityPolicy", &invalid, broken).await;
    for id in [&denied, &soon, &gone, &later] {
        apply(&world, "ClusterSPIFFEID", id, pod_identity(&world, &format!("legacy/{id}"), "web")).await;
    }
    let exception = |target: &str, expires: Timestamp| {
        json!({
            "className": world.class,
            "target": { "kind": "ClusterSPIFFEID", "name": target },
            "relaxations": { "extraAllow": ["/legacy/**"] },
            "expiresAt": expires.to_string(),
            "owner": "team-billing",
            "justification": "the legacy billing workers keep their old names until the migration",
            "ticket": "BILL-1234",
        })
    };
    // A warning window of two hours: one exception is inside it, one beyond, one lapses soon.
    apply(&world, "IdentityException", &exc_soon, exception(&soon, in_seconds(3600))).await;
    apply(&world, "IdentityException", &exc_later, exception(&later, in_seconds(3 * 3600))).await;
    let gone_at = in_seconds(20);
    apply(&world, "IdentityException", &exc_gone, exception(&gone, gone_at)).await;
    let applied = want("Progressing", "Current", "Unknown", "Waiting for the operator");
    judge.state("IdentityPolicy", &strict, "applied", applied).await;
    judge.state("IdentityException", &exc_later, "applied", applied).await;

    let operator = Operator::start(bed, &world, &bed.spire_socket(), "exceptionWarningWindow: 2h\n");
    wait_ready(&world, &operator, "IdentityPolicy", &strict, ("True", "Governing")).await;
    judge.state("IdentityPolicy", &strict, "governing", want("Healthy", "Current", "Current", "")).await;
    wait_ready(&world, &operator, "IdentityPolicy", &invalid, ("False", "InvalidSpec")).await;
    judge.state("IdentityPolicy", &invalid, "invalid", want("Degraded", "Failed", "Failed", "Sometimes")).await;
    wait_ready(&world, &operator, "ClusterSPIFFEID", &denied, ("False", "PolicyDenied")).await;
    judge.state("ClusterSPIFFEID", &denied, "policy-denied", want("Degraded", "Failed", "Failed", "")).await;
    wait_ready(&world, &operator, "IdentityException", &exc_later, ("True", "Active")).await;
    judge.state("IdentityException", &exc_later, "active", want("Healthy", "Current", "Current", "")).await;
    wait_ready(&world, &operator, "IdentityException", &exc_soon, ("True", "ExpiringSoon")).await;
    let expiring = want("Healthy", "Current", "Current", "Expiring soon: ");
    judge.state("IdentityException", &exc_soon, "expiring-soon", expiring).await;
    wait_ready(&world, &operator, "ClusterSPIFFEID", &soon, ("True", "Synced")).await;

    // The third exception lapses: failed, and its identity is denied again.
    let left = gone_at.duration_since(Timestamp::now());
    tokio::time::sleep(Duration::try_from(left).unwrap_or_default()).await;
    wait_ready(&world, &operator, "IdentityException", &exc_gone, ("False", "Expired")).await;
    judge
        .state(
            "IdentityException",
            &exc_gone,
            "expired",
            want("Degraded", "Failed", "Failed", "Create a new exception"),
        )
        .await;
    wait_ready(&world, &operator, "ClusterSPIFFEID", &gone, ("False", "PolicyDenied")).await;

    let objects = [
        ("IdentityException", exc_soon.as_str()),
        ("IdentityException", exc_gone.as_str()),
        ("IdentityException", exc_later.as_str()),
        ("IdentityPolicy", strict.as_str()),
        ("IdentityPolicy", invalid.as_str()),
        ("ClusterSPIFFEID", denied.as_str()),
        ("ClusterSPIFFEID", soon.as_str()),
        ("ClusterSPIFFEID", gone.as_str()),
        ("ClusterSPIFFEID", later.as_str()),
    ];
    delete_all(&world, &objects).await;
    let spire = bed.spire();
    let emptied = eventually(WAIT, || async { entries(&spire, &world.prefix).await.is_empty().then_some(()) }).await;
    assert!(emptied.is_some(), "entries left after the resources were deleted\n{}", operator.log_text());
    drop(operator);
    world.clean_up().await;
    judge.finish();
}

// --- The checked-in files ------------------------------------------------------------------

/// The checked-in Argo CD testdata (objects captured from the testbed by the tests above) still
/// reads as `health_test.yaml` and `actions/action_test.yaml` say, run by the Lua tool as Argo CD's
/// own tests run them; every kind has the same health script and testdata of its own kind.
#[test]
fn the_checked_in_testdata_reads_as_its_tests_say() {
    if capturing() {
        println!("SPIRE_STEWARD_CAPTURE_TESTDATA=1: the testdata is being rewritten; run again without it");
        return;
    }
    let script = std::fs::read_to_string(kind_dir("ClusterSPIFFEID").join("health.lua")).unwrap();
    let mut dirs = Vec::new();
    for kind in KINDS {
        let dir = kind_dir(kind);
        assert_eq!(std::fs::read_to_string(dir.join("health.lua")).unwrap(), script, "{kind}/health.lua");
        assert!(dir.join("health_test.yaml").is_file(), "{kind} has no health_test.yaml");
        assert_eq!(dir.join("actions").is_dir(), SUSPENDABLE.contains(&kind), "{kind}/actions");
        for sub in ["testdata", "actions/testdata"] {
            for file in std::fs::read_dir(dir.join(sub)).into_iter().flatten() {
                let path = file.unwrap().path();
                let object: Value = serde_yaml_ng::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
                assert_eq!(object["kind"], kind, "{}", path.display());
                assert!(object["metadata"].get("managedFields").is_none(), "{}", path.display());
            }
        }
        dirs.push(dir);
    }
    let report = run(argocd_lua(), &[&[PathBuf::from("test")], dirs.as_slice()].concat());
    println!("{report}");
    assert!(report.lines().filter(|l| l.starts_with("ok ")).count() >= 40, "{report}");
}

/// The operating guide shows the Flux expressions and the Argo CD scripts exactly as the tests
/// run them.
#[test]
fn the_operating_guide_shows_the_tested_expressions_and_scripts() {
    let guide = std::fs::read_to_string(repo_root().join("docs/operating.md")).unwrap();
    let exprs = std::fs::read_to_string(repo_root().join(EXPRS)).unwrap();
    let items: String = exprs.lines().skip_while(|l| l.starts_with('#')).map(|l| format!("{l}\n")).collect();
    assert!(guide.contains(&items), "docs/operating.md shows {EXPRS} as it is");
    let indented = |path: &str, by: usize| -> String {
        let text = std::fs::read_to_string(kind_dir("ClusterSPIFFEID").join(path)).unwrap();
        text.lines().map(|l| if l.is_empty() { "\n".to_owned() } else { format!("{}{l}\n", " ".repeat(by)) }).collect()
    };
    for (path, by) in [("health.lua", 4), ("health.lua", 8), ("actions/discovery.lua", 6)] {
        assert!(guide.contains(&indented(path, by)), "docs/operating.md shows {path} indented by {by}");
    }
    for action in ["suspend", "resume"] {
        assert!(
            guide.contains(&indented(&format!("actions/{action}/action.lua"), 8)),
            "docs/operating.md shows {action}"
        );
    }
    for kind in KINDS {
        let key = format!("resource.customizations.health.spire-steward.io_{kind}:");
        assert!(guide.contains(&key), "docs/operating.md has {key}");
    }
}
