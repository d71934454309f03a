//! The data sets cases render against: a pod and its node as Kubernetes JSON, and the cluster's
//! names. The Go side decodes the same JSON into the k8s.io/api types.

use serde_json::{Value, json};

/// Which data a case renders against.
#[derive(Clone, Copy, Debug)]
pub enum Fixture {
    /// The pod and node of the engine's unit tests (src/template/tests.rs).
    Full,
    /// A pod with everything set: annotations, security contexts, priority, init containers,
    /// a deletion timestamp; its node has labels and is unschedulable.
    Rich,
    /// An empty pod and node: every field is Go's zero value.
    Bare,
    /// The parent ID data of the `Full` node: PodMeta and PodSpec are nil.
    Parent,
}

/// The cluster-wide values of a fixture.
pub struct Cluster {
    pub trust_domain: &'static str,
    pub cluster_name: &'static str,
    pub cluster_domain: &'static str,
}

impl Fixture {
    /// Whether the data is the parent ID shape (no pod).
    pub fn is_parent_id(self) -> bool {
        matches!(self, Fixture::Parent)
    }

    pub fn cluster(self) -> Cluster {
        match self {
            Fixture::Bare => Cluster { trust_domain: "td", cluster_name: "", cluster_domain: "" },
            _ => Cluster { trust_domain: "example.org", cluster_name: "c1", cluster_domain: "cluster.local" },
        }
    }

    pub fn pod(self) -> Value {
        match self {
            Fixture::Full | Fixture::Parent => full_pod(),
            Fixture::Rich => rich_pod(),
            Fixture::Bare => json!({}),
        }
    }

    pub fn node(self) -> Value {
        match self {
            Fixture::Full | Fixture::Parent => full_node(),
            Fixture::Rich => rich_node(),
            Fixture::Bare => json!({}),
        }
    }
}

fn full_pod() -> Value {
    json!({
        "metadata": {
            "name": "web-0",
            "namespace": "prod",
            "uid": "pod-uid",
            "generation": 3,
            "labels": {"app": "web", "app.kubernetes.io/name": "web"},
            "creationTimestamp": "2026-01-02T03:04:05Z",
            "ownerReferences": [{
                "apiVersion": "apps/v1",
                "kind": "StatefulSet",
                "name": "web",
                "uid": "sts-uid",
                "controller": true
            }]
        },
        "spec": {
            "serviceAccountName": "sa1",
            "serviceAccount": "sa1",
            "nodeName": "n1",
            "containers": [
                {"name": "c1", "image": "img:1"},
                {"name": "c2", "image": "img:2"}
            ]
        }
    })
}

fn full_node() -> Value {
    json!({
        "metadata": {"name": "n1", "uid": "node-uid", "labels": {"zone": "z1"}},
        "spec": {
            "podCIDR": "10.0.0.0/24",
            "podCIDRs": ["10.0.0.0/24", "fd00::/64"],
            "providerID": "aws:///i-1"
        }
    })
}

fn rich_pod() -> Value {
    json!({
        "metadata": {
            "name": "api-7d9f",
            "generateName": "api-",
            "namespace": "payments",
            "uid": "6f1c2a9e-0000-4000-8000-000000000001",
            "generation": 1,
            "resourceVersion": "12345",
            "labels": {"app": "api", "app.kubernetes.io/name": "api", "tier": "backend", "empty": ""},
            "annotations": {"spiffe.io/id": "custom", "team": "core", "z-last": "z<&>'\""},
            "creationTimestamp": "2025-12-31T23:59:59Z",
            "deletionTimestamp": "2026-03-04T05:06:07Z",
            "deletionGracePeriodSeconds": 30,
            "finalizers": ["example.com/a", "b"],
            "ownerReferences": [{
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "name": "api-7d9f",
                "uid": "rs-uid",
                "controller": true,
                "blockOwnerDeletion": false
            }]
        },
        "spec": {
            "serviceAccountName": "api",
            "nodeName": "worker-2",
            "restartPolicy": "Always",
            "dnsPolicy": "ClusterFirst",
            "hostNetwork": true,
            "automountServiceAccountToken": false,
            "priority": 100,
            "priorityClassName": "high",
            "runtimeClassName": "gvisor",
            "schedulerName": "default-scheduler",
            "terminationGracePeriodSeconds": 45,
            "hostname": "api",
            "subdomain": "svc",
            "nodeSelector": {"disk": "ssd"},
            "securityContext": {"runAsUser": 1000, "runAsGroup": 2000, "runAsNonRoot": true, "fsGroup": 3000},
            "initContainers": [{"name": "init", "image": "busybox", "command": ["sh", "-c"], "args": ["echo hi"]}],
            "containers": [
                {
                    "name": "api",
                    "image": "ghcr.io/acme/api:1.2.3",
                    "imagePullPolicy": "IfNotPresent",
                    "securityContext": {"privileged": false, "runAsUser": 1001, "readOnlyRootFilesystem": true}
                },
                {"name": "sidecar", "image": "envoy:1.30", "workingDir": "/w", "tty": true}
            ]
        }
    })
}

fn rich_node() -> Value {
    json!({
        "metadata": {
            "name": "worker-2",
            "uid": "node-uid-2",
            "labels": {
                "topology.kubernetes.io/zone": "eu-1a",
                "kubernetes.io/hostname": "worker-2",
                "node-role.kubernetes.io/worker": ""
            },
            "creationTimestamp": "2024-02-29T12:00:00Z"
        },
        "spec": {
            "podCIDR": "10.1.0.0/24",
            "podCIDRs": ["10.1.0.0/24"],
            "providerID": "gce://p/z/worker-2",
            "unschedulable": true
        }
    })
}
