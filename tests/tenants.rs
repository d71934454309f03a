//! Tenant identities with a real namespace admin: a ServiceAccount bound to the built-in `admin`
//! role in its namespace, authenticating with a token the API server issued. The chart's
//! ClusterRoles reach it through aggregation (kube-controller-manager's clusterrole-aggregation
//! controller). It can manage SPIFFEIDs in its namespace only, cannot create cluster-scoped
//! identities, and nothing it writes yields an entry outside `/ns/<its namespace>/`.

mod support;

use std::{collections::BTreeSet, time::Duration};

use k8s_openapi::api::{
    authentication::v1::TokenRequest,
    core::v1::{Namespace, ServiceAccount},
    rbac::v1::RoleBinding,
};
use kube::{
    Api, Client,
    api::{DynamicObject, Patch, PatchParams, PostParams},
    core::{ApiResource, GroupVersionKind},
};
use serde_json::{Value, json};
use support::{
    eventually,
    operator::{Operator, World, entries},
    testbed, unique,
};

const WAIT: Duration = Duration::from_secs(30);

/// The chart's tenant ClusterRoles, rendered and applied.
async fn apply_tenant_roles(world: &World) {
    let out = support::helm(&[
        "template",
        &world.id,
        "charts/spire-steward",
        "--show-only",
        "templates/tenant-roles.yaml",
        "--set",
        "config.trustDomain=example.org",
        "--set",
        "config.clusterName=test",
    ])
    .output()
    .expect("running helm template");
    assert!(out.status.success(), "helm template: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let gvk = GroupVersionKind::gvk("rbac.authorization.k8s.io", "v1", "ClusterRole");
    let roles: Api<DynamicObject> = Api::all_with(world.client.clone(), &ApiResource::from_gvk(&gvk));
    for doc in text.split("\n---").filter(|d| d.contains("kind:")) {
        let object: Value = serde_yaml_ng::from_str(doc).unwrap();
        let name = object["metadata"]["name"].as_str().unwrap().to_owned();
        roles.patch(&name, &PatchParams::apply("spire-steward-tests").force(), &Patch::Apply(&object)).await.unwrap();
    }
}

/// A client authenticated as a ServiceAccount that is admin of `namespace` only.
async fn namespace_admin(world: &World, namespace: &str) -> Client {
    let name = unique("tenant-admin");
    let accounts: Api<ServiceAccount> = Api::namespaced(world.client.clone(), namespace);
    let account: ServiceAccount = serde_json::from_value(json!({ "metadata": { "name": name } })).unwrap();
    accounts.create(&PostParams::default(), &account).await.unwrap();
    let binding: RoleBinding = serde_json::from_value(json!({
        "metadata": { "name": name },
        "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "admin" },
        "subjects": [{ "kind": "ServiceAccount", "name": name, "namespace": namespace }],
    }))
    .unwrap();
    Api::<RoleBinding>::namespaced(world.client.clone(), namespace)
        .create(&PostParams::default(), &binding)
        .await
        .unwrap();
    let request: TokenRequest = serde_json::from_value(json!({ "spec": { "expirationSeconds": 3600 } })).unwrap();
    let token = accounts.create_token_request(&name, &PostParams::default(), &request).await.unwrap();
    let token = token.status.unwrap().token;
    // The admin kubeconfig's server and CA, with the ServiceAccount's token instead of its own.
    let mut kubeconfig = kube::config::Kubeconfig::read_from(testbed().var("KUBECONFIG_ADMIN")).unwrap();
    for user in &mut kubeconfig.auth_infos {
        if let Some(auth) = user.auth_info.as_mut() {
            *auth = serde_json::from_value(json!({ "token": token })).unwrap();
        }
    }
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default()).await.unwrap();
    Client::try_from(config).unwrap()
}

fn spiffeid(name: &str, spec: Value) -> DynamicObject {
    serde_json::from_value(json!({
        "apiVersion": "spire-steward.io/v1alpha1",
        "kind": "SPIFFEID",
        "metadata": { "name": name },
        "spec": spec,
    }))
    .unwrap()
}

fn api(client: &Client, kind: &str, namespace: Option<&str>) -> Api<DynamicObject> {
    let resource = ApiResource::from_gvk(&GroupVersionKind::gvk("spire-steward.io", "v1alpha1", kind));
    match namespace {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &resource),
        None => Api::all_with(client.clone(), &resource),
    }
}

fn forbidden<T: std::fmt::Debug>(result: Result<T, kube::Error>) -> bool {
    matches!(result, Err(kube::Error::Api(ref e)) if e.code == 403)
}

#[tokio::test]
async fn a_namespace_admin_manages_spiffeids_of_its_namespace_and_cannot_escape_it() {
    let bed = testbed();
    let mut world = World::new(bed).await;
    apply_tenant_roles(&world).await;
    world.node("node").await;
    let ns = world.namespace.clone();
    let other = format!("other-{}", world.id);
    let other_ns: Namespace = serde_json::from_value(json!({ "metadata": { "name": other } })).unwrap();
    Api::<Namespace>::all(world.client.clone()).create(&PostParams::default(), &other_ns).await.unwrap();
    world.pod("p-1", &[("app", "web"), ("ns", &other)], Some("node")).await;
    let tenant = namespace_admin(&world, &ns).await;

    // The built-in admin role gains SPIFFEIDs by aggregation.
    let good = spiffeid(
        "good",
        json!({
            "className": world.class,
            "spiffeIDTemplate": "spiffe://{{ .TrustDomain }}/ns/{{ .PodMeta.Namespace }}/sa/{{ .PodSpec.ServiceAccountName }}",
        }),
    );
    let created = eventually(WAIT, || async {
        api(&tenant, "SPIFFEID", Some(&ns)).create(&PostParams::default(), &good).await.ok()
    })
    .await;
    assert!(created.is_some(), "the namespace admin could not create a SPIFFEID in its namespace");
    assert!(forbidden(api(&tenant, "SPIFFEID", Some(&other)).create(&PostParams::default(), &good).await));
    let cluster = serde_json::from_value::<DynamicObject>(json!({
        "apiVersion": "spire-steward.io/v1alpha1",
        "kind": "ClusterSPIFFEID",
        "metadata": { "name": format!("escape-{}", world.id) },
        "spec": { "className": world.class, "spiffeIDTemplate": "spiffe://{{ .TrustDomain }}/escape" },
    }))
    .unwrap();
    assert!(forbidden(api(&tenant, "ClusterSPIFFEID", None).create(&PostParams::default(), &cluster).await));
    for kind in ["IdentityPolicy", "IdentityException"] {
        assert!(forbidden(api(&tenant, kind, None).list(&Default::default()).await), "{kind} is visible");
    }

    // Everything a tenant might try in order to mint an ID outside its namespace.
    let long = "x".repeat(300);
    let attempts = [
        ("dotdot", format!("spiffe://{{{{ .TrustDomain }}}}/ns/{ns}/../{other}/x"), false),
        ("encoded", format!("spiffe://{{{{ .TrustDomain }}}}/ns/{ns}%2F..%2F{other}/x"), false),
        ("label", "spiffe://{{ .TrustDomain }}/ns/{{ .PodMeta.Labels.ns }}/x".to_owned(), false),
        ("long", format!("spiffe://{{{{ .TrustDomain }}}}/ns/{ns}/{long}{long}{long}{long}"), false),
        ("outside", "spiffe://{{ .TrustDomain }}/payments/x".to_owned(), false),
        ("fallback", format!("spiffe://{{{{ .TrustDomain }}}}/ns/{other}/fallback"), true),
    ];
    for (name, template, fallback) in &attempts {
        let mut spec = json!({ "className": world.class, "spiffeIDTemplate": template });
        if *fallback {
            spec["fallback"] = json!(true);
        }
        api(&tenant, "SPIFFEID", Some(&ns)).create(&PostParams::default(), &spiffeid(name, spec)).await.unwrap();
    }
    let admin = spiffeid(
        "admin",
        json!({ "className": world.class, "spiffeIDTemplate": format!("spiffe://{{{{ .TrustDomain }}}}/ns/{ns}/admin"), "admin": true }),
    );
    api(&tenant, "SPIFFEID", Some(&ns)).create(&PostParams::default(), &admin).await.unwrap();

    let operator = Operator::start(bed, &world, &bed.spire_socket(), "");
    // A long value stays what it is: one long segment under the namespace.
    let want: BTreeSet<String> = [format!("/ns/{ns}/sa/app"), format!("/ns/{ns}/{}", long.repeat(4))].into();
    let paths = || async {
        entries(&bed.spire(), &world.prefix)
            .await
            .into_iter()
            .map(|e| e.spiffe_id.path().to_owned())
            .collect::<BTreeSet<_>>()
    };
    let found = eventually(WAIT, || async { (paths().await == want).then_some(()) }).await;
    assert!(found.is_some(), "entries {:?}, want {want:?}\nlog:\n{}", paths().await, operator.log_text());
    let ready = |name: String| {
        let world = &world;
        let ns = ns.clone();
        async move {
            eventually(WAIT, || async {
                let object = api(&world.client, "SPIFFEID", Some(&ns)).get(&name).await.ok()?;
                let conditions = object.data["status"]["conditions"].as_array()?.clone();
                let ready = conditions.iter().find(|c| c["type"] == "Ready")?.clone();
                (ready["reason"] != "Pending").then_some(ready)
            })
            .await
            .unwrap_or_else(|| panic!("SPIFFEID {name} has no status"))
        }
    };
    assert_eq!(ready("good".into()).await["reason"], "Synced");
    for (name, want) in [
        ("dotdot", "InvalidSpec"),
        ("encoded", "InvalidSpec"),
        ("label", "PolicyDenied"),
        ("long", "Synced"),
        ("outside", "PolicyDenied"),
        ("admin", "PolicyDenied"),
    ] {
        let got = ready(name.into()).await;
        assert_eq!(got["reason"], want, "{name}: {got}");
    }
    // The fallback is covered by the other SPIFFEIDs of the namespace; alone it is denied.
    for name in ["good", "dotdot", "encoded", "label", "long", "outside", "admin"] {
        api(&tenant, "SPIFFEID", Some(&ns)).delete(name, &Default::default()).await.unwrap();
    }
    let denied = eventually(WAIT, || async {
        let r = ready("fallback".into()).await;
        (r["reason"] == "PolicyDenied").then_some(r)
    })
    .await;
    assert!(denied.is_some(), "the fallback outside the namespace is not denied: {}", ready("fallback".into()).await);
    let all = entries(&bed.spire(), &world.prefix).await;
    assert!(all.iter().all(|e| e.spiffe_id.path().starts_with(&format!("/ns/{ns}/"))), "{all:?}");
    api(&tenant, "SPIFFEID", Some(&ns)).delete("fallback", &Default::default()).await.unwrap();
    world.clean_up().await;
}

#[tokio::test]
async fn a_cluster_scoped_identity_masks_an_older_tenant_identity_for_the_same_entry() {
    let bed = testbed();
    let mut world = World::new(bed).await;
    world.node("node").await;
    let ns = world.namespace.clone();
    world.pod("p-1", &[("app", "web")], Some("node")).await;
    let template = "spiffe://{{ .TrustDomain }}/ns/{{ .PodMeta.Namespace }}/sa/{{ .PodSpec.ServiceAccountName }}";
    let tenant = spiffeid("web", json!({ "className": world.class, "spiffeIDTemplate": template }));
    api(&world.client, "SPIFFEID", Some(&ns)).create(&PostParams::default(), &tenant).await.unwrap();
    let operator = Operator::start(bed, &world, &bed.spire_socket(), "");
    let reason = |kind: &'static str, name: String, namespace: Option<String>| {
        let world = &world;
        async move {
            let object = api(&world.client, kind, namespace.as_deref()).get(&name).await.ok()?;
            let conditions = object.data["status"]["conditions"].as_array()?.clone();
            conditions
                .iter()
                .find(|c| c["type"] == "Ready")
                .map(|c| c["reason"].as_str().unwrap_or_default().to_owned())
        }
    };
    let synced = eventually(WAIT, || async {
        (reason("SPIFFEID", "web".into(), Some(ns.clone())).await.as_deref() == Some("Synced")).then_some(())
    })
    .await;
    assert!(synced.is_some(), "the SPIFFEID never synced\nlog:\n{}", operator.log_text());

    // A younger ClusterSPIFFEID declaring the same entry takes it over.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let cluster = world.identity_name("cluster");
    world
        .apply(
            "ClusterSPIFFEID",
            &cluster,
            json!({ "className": world.class, "spiffeIDTemplate": template, "namespaceSelector": world.namespace_selector() }),
        )
        .await;
    let masked = eventually(WAIT, || async {
        let tenant = reason("SPIFFEID", "web".into(), Some(ns.clone())).await;
        let cluster = reason("ClusterSPIFFEID", cluster.clone(), None).await;
        (tenant.as_deref() == Some("Masked") && cluster.as_deref() == Some("Synced")).then_some(())
    })
    .await;
    assert!(masked.is_some(), "the cluster-scoped identity did not win\nlog:\n{}", operator.log_text());
    let all = entries(&bed.spire(), &world.prefix).await;
    assert_eq!(all.len(), 1, "one entry for the pod: {all:?}");

    // A SPIFFEID created after the ClusterSPIFFEID is masked from its first status on.
    let late = spiffeid("late", json!({ "className": world.class, "spiffeIDTemplate": template }));
    api(&world.client, "SPIFFEID", Some(&ns)).create(&PostParams::default(), &late).await.unwrap();
    let masked = eventually(WAIT, || async {
        (reason("SPIFFEID", "late".into(), Some(ns.clone())).await.as_deref() == Some("Masked")).then_some(())
    })
    .await;
    assert!(masked.is_some(), "the late SPIFFEID is not masked\nlog:\n{}", operator.log_text());
    let events = world.events_about("late").await;
    assert!(!events.iter().any(|(_, r)| r == "Synced"), "it was Synced on the way: {events:?}");
    api(&world.client, "SPIFFEID", Some(&ns)).delete("late", &Default::default()).await.unwrap();
    api(&world.client, "SPIFFEID", Some(&ns)).delete("web", &Default::default()).await.unwrap();
    world.clean_up().await;
}
