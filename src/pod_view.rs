//! The form in which the operator keeps pods: only what templates and selection can read.
//!
//! A Kubernetes `Pod` value is several kilobytes before its first string: every optional part
//! of the spec (affinity, volumes, probes, resources) is stored inline whether it is set or
//! not. A [`PodView`] keeps the object metadata and the spec fields that ClusterSPIFFEID
//! templates can name, with the rest dropped at the watch, so that tens of thousands of cached
//! pods stay small.
//!
//! Field names follow the Kubernetes types, so template data reads a view the way it would
//! read the pod.

use std::borrow::Cow;
use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, Pod, PodSecurityContext, PodSpec, SecurityContext};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Resource;

/// The annotation kubectl writes with a copy of the applied object; never read by templates.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// A pod as cached: its metadata (without managed fields) and the readable part of its spec.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PodView {
    pub metadata: ObjectMeta,
    pub spec: PodSpecView,
}

/// The part of a `PodSpec` that templates and selection read.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PodSpecView {
    pub init_containers: Vec<ContainerView>,
    pub containers: Vec<ContainerView>,
    pub restart_policy: Option<String>,
    pub termination_grace_period_seconds: Option<i64>,
    pub active_deadline_seconds: Option<i64>,
    pub dns_policy: Option<String>,
    pub node_selector: Option<BTreeMap<String, String>>,
    pub service_account_name: Option<String>,
    pub service_account: Option<String>,
    pub automount_service_account_token: Option<bool>,
    pub node_name: Option<String>,
    pub host_network: Option<bool>,
    pub host_pid: Option<bool>,
    pub host_ipc: Option<bool>,
    pub share_process_namespace: Option<bool>,
    pub security_context: Option<Box<PodSecurityContext>>,
    pub hostname: Option<String>,
    pub subdomain: Option<String>,
    pub scheduler_name: Option<String>,
    pub priority_class_name: Option<String>,
    pub priority: Option<i32>,
    pub runtime_class_name: Option<String>,
    pub enable_service_links: Option<bool>,
    pub preemption_policy: Option<String>,
    pub set_hostname_as_fqdn: Option<bool>,
    pub host_users: Option<bool>,
    pub hostname_override: Option<String>,
}

/// The part of a `Container` that templates read: no environment, ports, probes or resources.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ContainerView {
    pub name: String,
    pub image: Option<String>,
    pub command: Option<Vec<String>>,
    pub args: Option<Vec<String>>,
    pub working_dir: Option<String>,
    pub restart_policy: Option<String>,
    pub termination_message_path: Option<String>,
    pub termination_message_policy: Option<String>,
    pub image_pull_policy: Option<String>,
    pub security_context: Option<Box<SecurityContext>>,
    pub stdin: Option<bool>,
    pub stdin_once: Option<bool>,
    pub tty: Option<bool>,
}

impl PodView {
    /// The node the pod is bound to, if any.
    pub fn node_name(&self) -> Option<&str> {
        self.spec.node_name.as_deref().filter(|n| !n.is_empty())
    }
}

impl From<Pod> for PodView {
    fn from(pod: Pod) -> Self {
        let mut metadata = pod.metadata;
        metadata.managed_fields = None;
        if let Some(annotations) = metadata.annotations.as_mut() {
            annotations.remove(LAST_APPLIED);
        }
        PodView { metadata, spec: pod.spec.map(PodSpecView::from).unwrap_or_default() }
    }
}

impl From<PodSpec> for PodSpecView {
    fn from(s: PodSpec) -> Self {
        let views = |cs: Vec<Container>| cs.into_iter().map(ContainerView::from).collect();
        PodSpecView {
            init_containers: s.init_containers.map(views).unwrap_or_default(),
            containers: views(s.containers),
            restart_policy: s.restart_policy,
            termination_grace_period_seconds: s.termination_grace_period_seconds,
            active_deadline_seconds: s.active_deadline_seconds,
            dns_policy: s.dns_policy,
            node_selector: s.node_selector,
            service_account_name: s.service_account_name,
            service_account: s.service_account,
            automount_service_account_token: s.automount_service_account_token,
            node_name: s.node_name,
            host_network: s.host_network,
            host_pid: s.host_pid,
            host_ipc: s.host_ipc,
            share_process_namespace: s.share_process_namespace,
            security_context: s.security_context.map(Box::new),
            hostname: s.hostname,
            subdomain: s.subdomain,
            scheduler_name: s.scheduler_name,
            priority_class_name: s.priority_class_name,
            priority: s.priority,
            runtime_class_name: s.runtime_class_name,
            enable_service_links: s.enable_service_links,
            preemption_policy: s.preemption_policy,
            set_hostname_as_fqdn: s.set_hostname_as_fqdn,
            host_users: s.host_users,
            hostname_override: s.hostname_override,
        }
    }
}

impl From<Container> for ContainerView {
    fn from(c: Container) -> Self {
        ContainerView {
            name: c.name,
            image: c.image,
            command: c.command,
            args: c.args,
            working_dir: c.working_dir,
            restart_policy: c.restart_policy,
            termination_message_path: c.termination_message_path,
            termination_message_policy: c.termination_message_policy,
            image_pull_policy: c.image_pull_policy,
            security_context: c.security_context.map(Box::new),
            stdin: c.stdin,
            stdin_once: c.stdin_once,
            tty: c.tty,
        }
    }
}

/// A view is addressed like the pod it came from, so caches and object references treat it as
/// a pod.
impl Resource for PodView {
    type DynamicType = ();
    type Scope = <Pod as Resource>::Scope;

    fn kind(dt: &()) -> Cow<'_, str> {
        Pod::kind(dt)
    }

    fn group(dt: &()) -> Cow<'_, str> {
        Pod::group(dt)
    }

    fn version(dt: &()) -> Cow<'_, str> {
        Pod::version(dt)
    }

    fn plural(dt: &()) -> Cow<'_, str> {
        Pod::plural(dt)
    }

    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod() -> Pod {
        serde_json::from_value(json!({
            "metadata": {
                "name": "web-0", "namespace": "shop", "uid": "u-1",
                "labels": { "app": "web" },
                "annotations": { "team": "a", LAST_APPLIED: "{}" },
                "managedFields": [{ "manager": "kubectl", "operation": "Apply" }],
            },
            "spec": {
                "nodeName": "n1",
                "serviceAccountName": "web",
                "volumes": [{ "name": "data", "emptyDir": {} }],
                "containers": [{
                    "name": "app", "image": "registry.example/web:1",
                    "env": [{ "name": "A", "value": "1" }],
                    "securityContext": { "runAsUser": 1000 },
                }],
                "initContainers": [{ "name": "init", "image": "registry.example/init" }],
            },
            "status": { "phase": "Running", "podIP": "10.0.0.1" },
        }))
        .unwrap()
    }

    #[test]
    fn keeps_what_templates_read_and_drops_the_rest() {
        let view = PodView::from(pod());
        assert_eq!(view.metadata.name.as_deref(), Some("web-0"));
        assert_eq!(view.metadata.labels.as_ref().unwrap()["app"], "web");
        assert!(view.metadata.managed_fields.is_none());
        assert_eq!(view.metadata.annotations.as_ref().unwrap().keys().collect::<Vec<_>>(), ["team"]);
        assert_eq!(view.node_name(), Some("n1"));
        assert_eq!(view.spec.service_account_name.as_deref(), Some("web"));
        assert_eq!(view.spec.containers[0].image.as_deref(), Some("registry.example/web:1"));
        assert_eq!(view.spec.containers[0].security_context.as_ref().unwrap().run_as_user, Some(1000));
        assert_eq!(view.spec.init_containers[0].name, "init");
    }

    #[test]
    fn a_pod_without_spec_or_node_has_an_empty_view() {
        let view = PodView::from(Pod::default());
        assert_eq!(view.spec, PodSpecView::default());
        assert_eq!(view.node_name(), None);
        let mut unbound = pod();
        unbound.spec.as_mut().unwrap().node_name = Some(String::new());
        assert_eq!(PodView::from(unbound).node_name(), None);
    }

    #[test]
    fn is_a_fraction_of_the_pod() {
        assert!(size_of::<PodView>() * 3 < size_of::<Pod>(), "{} vs {}", size_of::<PodView>(), size_of::<Pod>());
        assert!(size_of::<ContainerView>() * 5 < size_of::<Container>());
    }

    #[test]
    fn is_addressed_as_a_pod() {
        let view = PodView::from(pod());
        let reference = kube::runtime::reflector::ObjectRef::from_obj(&view);
        assert_eq!(reference.name, "web-0");
        assert_eq!(reference.namespace.as_deref(), Some("shop"));
        assert_eq!(PodView::kind(&()), "Pod");
    }
}
