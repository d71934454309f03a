// Package spireentry holds the template data type under the package and type name that
// spire-controller-manager gives it (pkg/spireentry.templateData), so that Go's messages name
// it as they do there: "can't evaluate field X in type *spireentry.templateData".
package spireentry

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// templateData has the fields, names and types of spire-controller-manager's templateData.
// Templates see it through a pointer.
type templateData struct {
	TrustDomain   string
	ClusterName   string
	ClusterDomain string
	PodMeta       *metav1.ObjectMeta
	PodSpec       *corev1.PodSpec
	NodeMeta      *metav1.ObjectMeta
	NodeSpec      *corev1.NodeSpec
}

// Cluster is the cluster-wide part of the data.
type Cluster struct {
	TrustDomain   string
	ClusterName   string
	ClusterDomain string
}

// ForPod is the data of the SPIFFE ID, DNS name and workload selector templates.
func ForPod(c Cluster, pod *corev1.Pod, node *corev1.Node) any {
	return &templateData{
		TrustDomain:   c.TrustDomain,
		ClusterName:   c.ClusterName,
		ClusterDomain: c.ClusterDomain,
		PodMeta:       &pod.ObjectMeta,
		PodSpec:       &pod.Spec,
		NodeMeta:      &node.ObjectMeta,
		NodeSpec:      &node.Spec,
	}
}

// ForParentID is the data of the parent ID template: PodMeta and PodSpec stay nil.
func ForParentID(c Cluster, node *corev1.Node) any {
	return &templateData{
		TrustDomain:   c.TrustDomain,
		ClusterName:   c.ClusterName,
		ClusterDomain: c.ClusterDomain,
		NodeMeta:      &node.ObjectMeta,
		NodeSpec:      &node.Spec,
	}
}
