//! The data a ClusterSPIFFEID template renders against.
//!
//! The shape is spire-controller-manager's `templateData`: `TrustDomain`, `ClusterName`,
//! `ClusterDomain`, `PodMeta`, `PodSpec`, `NodeMeta` and `NodeSpec`. Field names are the Go
//! struct field names of the Kubernetes API types (`.PodMeta.UID`,
//! `.PodSpec.ServiceAccountName`, `.PodSpec.DeprecatedServiceAccount`), not their JSON names.
//!
//! [`TemplateData`] only holds references to the cached pod view and node it was built from:
//! building it costs nothing, and reading a field borrows straight from them.
//!
//! Each Go struct lists all of its fields. The ones templates can read are mapped below;
//! naming one of the others is an error that says the field is not available, rather than
//! the "can't evaluate field" error a misspelt field gets.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use k8s_openapi::api::core::v1::{Node, NodeSpec, PodSecurityContext, SecurityContext};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

use crate::pod_view::{ContainerView, PodSpecView, PodView};

use super::value::{IntType, Pointer, Slice, StrType, Text, Value};

/// The cluster-wide part of the template data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClusterInfo<'a> {
    /// The trust domain name, without `spiffe://`.
    pub trust_domain: &'a str,
    /// The configured cluster name.
    pub cluster_name: &'a str,
    /// The cluster DNS domain; may be empty.
    pub cluster_domain: &'a str,
}

/// The data one template rendering sees, borrowed from a pod and its node.
///
/// Two shapes exist, as in spire-controller-manager:
/// - [`TemplateData::for_pod`] fills every field and is used for the SPIFFE ID, DNS name
///   and workload selector templates;
/// - [`TemplateData::for_parent_id`] leaves `PodMeta` and `PodSpec` as nil pointers, so a
///   parent ID template that reads a pod field fails with a nil pointer error.
#[derive(Clone, Copy, Debug)]
pub struct TemplateData<'a> {
    cluster: ClusterInfo<'a>,
    pod_meta: Option<&'a ObjectMeta>,
    pod_spec: Option<&'a PodSpecView>,
    node_meta: &'a ObjectMeta,
    node_spec: &'a NodeSpec,
}

static EMPTY_NODE_SPEC: LazyLock<NodeSpec> = LazyLock::new(NodeSpec::default);
static EMPTY_MAP: BTreeMap<String, String> = BTreeMap::new();

impl<'a> TemplateData<'a> {
    /// Data for rendering a pod's SPIFFE ID, DNS names and selectors.
    ///
    /// A pod or node without a spec reads as Go's zero spec, never as a nil pointer.
    pub fn for_pod(cluster: ClusterInfo<'a>, pod: &'a PodView, node: &'a Node) -> Self {
        TemplateData {
            cluster,
            pod_meta: Some(&pod.metadata),
            pod_spec: Some(&pod.spec),
            node_meta: &node.metadata,
            node_spec: node.spec.as_ref().unwrap_or(&EMPTY_NODE_SPEC),
        }
    }

    /// Data for rendering the parent ID template: no pod, only the node.
    pub fn for_parent_id(cluster: ClusterInfo<'a>, node: &'a Node) -> Self {
        TemplateData {
            cluster,
            pod_meta: None,
            pod_spec: None,
            node_meta: &node.metadata,
            node_spec: node.spec.as_ref().unwrap_or(&EMPTY_NODE_SPEC),
        }
    }

    /// The value templates start from: Go passes `*templateData` to the template.
    pub(crate) fn root(&'a self) -> Value<'a> {
        Value::Ptr(Pointer::Struct(StructType::Data, Some(Struct::Data(self))))
    }
}

/// A borrowed Go struct value.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Struct<'a> {
    Data(&'a TemplateData<'a>),
    ObjectMeta(&'a ObjectMeta),
    PodSpec(&'a PodSpecView),
    NodeSpec(&'a NodeSpec),
    Container(&'a ContainerView),
    OwnerReference(&'a OwnerReference),
    PodSecurityContext(&'a PodSecurityContext),
    SecurityContext(&'a SecurityContext),
}

/// The Go struct types templates can reach.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StructType {
    Data,
    ObjectMeta,
    PodSpec,
    NodeSpec,
    Container,
    OwnerReference,
    PodSecurityContext,
    SecurityContext,
}

/// What reading a name on a struct gives.
pub(crate) enum Field<'a> {
    /// A field's value.
    Value(Value<'a>),
    /// The result of a method that takes no arguments, such as `ObjectMeta.GetName`.
    Method(Value<'a>),
    /// A real field of the Go type that templates cannot read.
    Unavailable,
    /// No such field.
    Unknown,
}

impl StructType {
    pub(crate) fn name(self) -> &'static str {
        match self {
            StructType::Data => "spireentry.templateData",
            StructType::ObjectMeta => "v1.ObjectMeta",
            StructType::PodSpec => "v1.PodSpec",
            StructType::NodeSpec => "v1.NodeSpec",
            StructType::Container => "v1.Container",
            StructType::OwnerReference => "v1.OwnerReference",
            StructType::PodSecurityContext => "v1.PodSecurityContext",
            StructType::SecurityContext => "v1.SecurityContext",
        }
    }

    /// Every field of the Go struct, readable or not.
    fn go_fields(self) -> &'static [&'static str] {
        match self {
            StructType::Data => {
                &["TrustDomain", "ClusterName", "ClusterDomain", "PodMeta", "PodSpec", "NodeMeta", "NodeSpec"]
            }
            StructType::ObjectMeta => &[
                "Name",
                "GenerateName",
                "Namespace",
                "SelfLink",
                "UID",
                "ResourceVersion",
                "Generation",
                "CreationTimestamp",
                "DeletionTimestamp",
                "DeletionGracePeriodSeconds",
                "Labels",
                "Annotations",
                "OwnerReferences",
                "Finalizers",
                "ManagedFields",
            ],
            StructType::PodSpec => &[
                "Volumes",
                "InitContainers",
                "Containers",
                "EphemeralContainers",
                "RestartPolicy",
                "TerminationGracePeriodSeconds",
                "ActiveDeadlineSeconds",
                "DNSPolicy",
                "NodeSelector",
                "ServiceAccountName",
                "DeprecatedServiceAccount",
                "AutomountServiceAccountToken",
                "NodeName",
                "HostNetwork",
                "HostPID",
                "HostIPC",
                "ShareProcessNamespace",
                "SecurityContext",
                "ImagePullSecrets",
                "Hostname",
                "Subdomain",
                "Affinity",
                "SchedulerName",
                "Tolerations",
                "HostAliases",
                "PriorityClassName",
                "Priority",
                "DNSConfig",
                "ReadinessGates",
                "RuntimeClassName",
                "EnableServiceLinks",
                "PreemptionPolicy",
                "Overhead",
                "TopologySpreadConstraints",
                "SetHostnameAsFQDN",
                "OS",
                "HostUsers",
                "SchedulingGates",
                "ResourceClaims",
                "Resources",
                "HostnameOverride",
                "EvictionResponders",
                "SchedulingGroup",
            ],
            StructType::NodeSpec => &[
                "PodCIDR",
                "PodCIDRs",
                "ProviderID",
                "Unschedulable",
                "Taints",
                "ConfigSource",
                "DoNotUseExternalID",
                "PodPreemptionPolicy",
            ],
            StructType::Container => &[
                "Name",
                "Image",
                "Command",
                "Args",
                "WorkingDir",
                "Ports",
                "EnvFrom",
                "Env",
                "Resources",
                "ResizePolicy",
                "RestartPolicy",
                "RestartPolicyRules",
                "VolumeMounts",
                "VolumeDevices",
                "LivenessProbe",
                "ReadinessProbe",
                "StartupProbe",
                "Lifecycle",
                "TerminationMessagePath",
                "TerminationMessagePolicy",
                "ImagePullPolicy",
                "SecurityContext",
                "Stdin",
                "StdinOnce",
                "TTY",
            ],
            StructType::OwnerReference => &["APIVersion", "Kind", "Name", "UID", "Controller", "BlockOwnerDeletion"],
            StructType::PodSecurityContext => &[
                "SELinuxOptions",
                "WindowsOptions",
                "RunAsUser",
                "RunAsGroup",
                "RunAsNonRoot",
                "SupplementalGroups",
                "SupplementalGroupsPolicy",
                "FSGroup",
                "Sysctls",
                "FSGroupChangePolicy",
                "SeccompProfile",
                "AppArmorProfile",
                "SELinuxChangePolicy",
            ],
            StructType::SecurityContext => &[
                "Capabilities",
                "Privileged",
                "SELinuxOptions",
                "WindowsOptions",
                "RunAsUser",
                "RunAsGroup",
                "RunAsNonRoot",
                "ReadOnlyRootFilesystem",
                "AllowPrivilegeEscalation",
                "ProcMount",
                "SeccompProfile",
                "AppArmorProfile",
            ],
        }
    }

    /// Whether the Go struct has a field of this name (readable or not).
    pub(crate) fn has_field(self, name: &str) -> bool {
        self.go_fields().contains(&name)
    }

    /// Whether the name is a field or one of the supported argument-less methods.
    pub(crate) fn has_member(self, name: &str) -> bool {
        self.has_field(name)
            || (self == StructType::ObjectMeta && name.strip_prefix("Get").is_some_and(|f| self.has_field(f)))
    }
}

fn string(s: &Option<String>) -> Value<'_> {
    Value::str(s.as_deref().unwrap_or(""))
}

fn named<'a>(s: &'a Option<String>, ty: &'static str) -> Value<'a> {
    Value::Str(Text::Borrowed(s.as_deref().unwrap_or("")), StrType(ty))
}

fn flag(b: Option<bool>) -> Value<'static> {
    Value::Bool(b.unwrap_or(false))
}

fn map(m: &Option<BTreeMap<String, String>>) -> Value<'_> {
    Value::Map(m.as_ref().unwrap_or(&EMPTY_MAP))
}

fn strings(v: &Option<Vec<String>>) -> Value<'_> {
    Value::Slice(Slice::Strings(v.as_deref().unwrap_or(&[])))
}

fn int64_ptr(i: Option<i64>) -> Value<'static> {
    Value::Ptr(Pointer::Int(IntType::Int64, i))
}

fn bool_ptr(b: Option<bool>) -> Value<'static> {
    Value::Ptr(Pointer::Bool(b))
}

fn str_ptr<'a>(s: &'a Option<String>, ty: &'static str) -> Value<'a> {
    Value::Ptr(Pointer::Str(StrType(ty), s.as_deref()))
}

impl<'a> Struct<'a> {
    pub(crate) fn struct_type(self) -> StructType {
        match self {
            Struct::Data(_) => StructType::Data,
            Struct::ObjectMeta(_) => StructType::ObjectMeta,
            Struct::PodSpec(_) => StructType::PodSpec,
            Struct::NodeSpec(_) => StructType::NodeSpec,
            Struct::Container(_) => StructType::Container,
            Struct::OwnerReference(_) => StructType::OwnerReference,
            Struct::PodSecurityContext(_) => StructType::PodSecurityContext,
            Struct::SecurityContext(_) => StructType::SecurityContext,
        }
    }

    /// The address of the borrowed struct, for pointer equality.
    pub(crate) fn address(self) -> *const () {
        match self {
            Struct::Data(d) => std::ptr::from_ref(d).cast(),
            Struct::ObjectMeta(m) => std::ptr::from_ref(m).cast(),
            Struct::PodSpec(s) => std::ptr::from_ref(s).cast(),
            Struct::NodeSpec(s) => std::ptr::from_ref(s).cast(),
            Struct::Container(c) => std::ptr::from_ref(c).cast(),
            Struct::OwnerReference(o) => std::ptr::from_ref(o).cast(),
            Struct::PodSecurityContext(s) => std::ptr::from_ref(s).cast(),
            Struct::SecurityContext(s) => std::ptr::from_ref(s).cast(),
        }
    }

    /// Reads a field (or argument-less method) by its Go name.
    pub(crate) fn field(self, name: &str) -> Field<'a> {
        let value = match self {
            Struct::Data(d) => data_field(d, name),
            Struct::ObjectMeta(m) => {
                if let Some(field) = name.strip_prefix("Get") {
                    return match object_meta_field(m, field) {
                        Some(v) if field != "ManagedFields" => Field::Method(v),
                        _ if field == "ManagedFields" => Field::Unavailable,
                        _ => Field::Unknown,
                    };
                }
                object_meta_field(m, name)
            }
            Struct::PodSpec(s) => pod_spec_field(s, name),
            Struct::NodeSpec(s) => node_spec_field(s, name),
            Struct::Container(c) => container_field(c, name),
            Struct::OwnerReference(o) => owner_reference_field(o, name),
            Struct::PodSecurityContext(s) => pod_security_context_field(s, name),
            Struct::SecurityContext(s) => security_context_field(s, name),
        };
        match value {
            Some(v) => Field::Value(v),
            None if self.struct_type().has_field(name) => Field::Unavailable,
            None => Field::Unknown,
        }
    }
}

fn data_field<'a>(d: &'a TemplateData<'a>, name: &str) -> Option<Value<'a>> {
    let meta =
        |m: Option<&'a ObjectMeta>| Value::Ptr(Pointer::Struct(StructType::ObjectMeta, m.map(Struct::ObjectMeta)));
    Some(match name {
        "TrustDomain" => Value::str(d.cluster.trust_domain),
        "ClusterName" => Value::str(d.cluster.cluster_name),
        "ClusterDomain" => Value::str(d.cluster.cluster_domain),
        "PodMeta" => meta(d.pod_meta),
        "PodSpec" => Value::Ptr(Pointer::Struct(StructType::PodSpec, d.pod_spec.map(Struct::PodSpec))),
        "NodeMeta" => meta(Some(d.node_meta)),
        "NodeSpec" => Value::Ptr(Pointer::Struct(StructType::NodeSpec, Some(Struct::NodeSpec(d.node_spec)))),
        _ => return None,
    })
}

fn object_meta_field<'a>(m: &'a ObjectMeta, name: &str) -> Option<Value<'a>> {
    Some(match name {
        "Name" => string(&m.name),
        "GenerateName" => string(&m.generate_name),
        "Namespace" => string(&m.namespace),
        "SelfLink" => string(&m.self_link),
        "UID" => named(&m.uid, StrType::UID.0),
        "ResourceVersion" => string(&m.resource_version),
        "Generation" => Value::Int(m.generation.unwrap_or(0), IntType::Int64),
        "CreationTimestamp" => Value::Time(m.creation_timestamp.as_ref()),
        "DeletionTimestamp" => Value::Ptr(Pointer::Time(m.deletion_timestamp.as_ref())),
        "DeletionGracePeriodSeconds" => int64_ptr(m.deletion_grace_period_seconds),
        "Labels" => map(&m.labels),
        "Annotations" => map(&m.annotations),
        "OwnerReferences" => Value::Slice(Slice::OwnerReferences(m.owner_references.as_deref().unwrap_or(&[]))),
        "Finalizers" => strings(&m.finalizers),
        _ => return None,
    })
}

fn pod_spec_field<'a>(s: &'a PodSpecView, name: &str) -> Option<Value<'a>> {
    Some(match name {
        "InitContainers" => Value::Slice(Slice::Containers(&s.init_containers)),
        "Containers" => Value::Slice(Slice::Containers(&s.containers)),
        "RestartPolicy" => named(&s.restart_policy, "v1.RestartPolicy"),
        "TerminationGracePeriodSeconds" => int64_ptr(s.termination_grace_period_seconds),
        "ActiveDeadlineSeconds" => int64_ptr(s.active_deadline_seconds),
        "DNSPolicy" => named(&s.dns_policy, "v1.DNSPolicy"),
        "NodeSelector" => map(&s.node_selector),
        "ServiceAccountName" => string(&s.service_account_name),
        "DeprecatedServiceAccount" => string(&s.service_account),
        "AutomountServiceAccountToken" => bool_ptr(s.automount_service_account_token),
        "NodeName" => string(&s.node_name),
        "HostNetwork" => flag(s.host_network),
        "HostPID" => flag(s.host_pid),
        "HostIPC" => flag(s.host_ipc),
        "ShareProcessNamespace" => bool_ptr(s.share_process_namespace),
        "SecurityContext" => Value::Ptr(Pointer::Struct(
            StructType::PodSecurityContext,
            s.security_context.as_deref().map(Struct::PodSecurityContext),
        )),
        "Hostname" => string(&s.hostname),
        "Subdomain" => string(&s.subdomain),
        "SchedulerName" => string(&s.scheduler_name),
        "PriorityClassName" => string(&s.priority_class_name),
        "Priority" => Value::Ptr(Pointer::Int(IntType::Int32, s.priority.map(i64::from))),
        "RuntimeClassName" => str_ptr(&s.runtime_class_name, "string"),
        "EnableServiceLinks" => bool_ptr(s.enable_service_links),
        "PreemptionPolicy" => str_ptr(&s.preemption_policy, "v1.PreemptionPolicy"),
        "SetHostnameAsFQDN" => bool_ptr(s.set_hostname_as_fqdn),
        "HostUsers" => bool_ptr(s.host_users),
        "HostnameOverride" => str_ptr(&s.hostname_override, "string"),
        _ => return None,
    })
}

fn node_spec_field<'a>(s: &'a NodeSpec, name: &str) -> Option<Value<'a>> {
    Some(match name {
        "PodCIDR" => string(&s.pod_cidr),
        "PodCIDRs" => strings(&s.pod_cidrs),
        "ProviderID" => string(&s.provider_id),
        "Unschedulable" => flag(s.unschedulable),
        "DoNotUseExternalID" => string(&s.external_id),
        _ => return None,
    })
}

fn container_field<'a>(c: &'a ContainerView, name: &str) -> Option<Value<'a>> {
    Some(match name {
        "Name" => Value::str(&c.name),
        "Image" => string(&c.image),
        "Command" => strings(&c.command),
        "Args" => strings(&c.args),
        "WorkingDir" => string(&c.working_dir),
        "RestartPolicy" => str_ptr(&c.restart_policy, "v1.ContainerRestartPolicy"),
        "TerminationMessagePath" => string(&c.termination_message_path),
        "TerminationMessagePolicy" => named(&c.termination_message_policy, "v1.TerminationMessagePolicy"),
        "ImagePullPolicy" => named(&c.image_pull_policy, "v1.PullPolicy"),
        "SecurityContext" => Value::Ptr(Pointer::Struct(
            StructType::SecurityContext,
            c.security_context.as_deref().map(Struct::SecurityContext),
        )),
        "Stdin" => flag(c.stdin),
        "StdinOnce" => flag(c.stdin_once),
        "TTY" => flag(c.tty),
        _ => return None,
    })
}

fn owner_reference_field<'a>(o: &'a OwnerReference, name: &str) -> Option<Value<'a>> {
    Some(match name {
        "APIVersion" => Value::str(&o.api_version),
        "Kind" => Value::str(&o.kind),
        "Name" => Value::str(&o.name),
        "UID" => Value::Str(Text::Borrowed(&o.uid), StrType::UID),
        "Controller" => bool_ptr(o.controller),
        "BlockOwnerDeletion" => bool_ptr(o.block_owner_deletion),
        _ => return None,
    })
}

fn pod_security_context_field<'a>(s: &'a PodSecurityContext, name: &str) -> Option<Value<'a>> {
    Some(match name {
        "RunAsUser" => int64_ptr(s.run_as_user),
        "RunAsGroup" => int64_ptr(s.run_as_group),
        "RunAsNonRoot" => bool_ptr(s.run_as_non_root),
        "SupplementalGroupsPolicy" => str_ptr(&s.supplemental_groups_policy, "v1.SupplementalGroupsPolicy"),
        "FSGroup" => int64_ptr(s.fs_group),
        "FSGroupChangePolicy" => str_ptr(&s.fs_group_change_policy, "v1.PodFSGroupChangePolicy"),
        "SELinuxChangePolicy" => str_ptr(&s.se_linux_change_policy, "v1.PodSELinuxChangePolicy"),
        _ => return None,
    })
}

fn security_context_field<'a>(s: &'a SecurityContext, name: &str) -> Option<Value<'a>> {
    Some(match name {
        "Privileged" => bool_ptr(s.privileged),
        "RunAsUser" => int64_ptr(s.run_as_user),
        "RunAsGroup" => int64_ptr(s.run_as_group),
        "RunAsNonRoot" => bool_ptr(s.run_as_non_root),
        "ReadOnlyRootFilesystem" => bool_ptr(s.read_only_root_filesystem),
        "AllowPrivilegeEscalation" => bool_ptr(s.allow_privilege_escalation),
        "ProcMount" => str_ptr(&s.proc_mount, "v1.ProcMountType"),
        _ => return None,
    })
}
