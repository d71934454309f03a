package main

import (
	"encoding/json"
	"fmt"

	corev1 "k8s.io/api/core/v1"

	"spire-steward.local/template-parity/spireentry"
)

// Case is one template to render against one data set.
type Case struct {
	Name     string `json:"name"`
	Template string `json:"template"`
	Data     Data   `json:"data"`
}

// Data is the input a template renders against, with the pod and node as Kubernetes JSON.
type Data struct {
	// Shape is "pod" for the SPIFFE ID, DNS name and selector templates, or "parentID" for the
	// parent ID template, which sees no pod.
	Shape         string          `json:"shape"`
	Pod           json.RawMessage `json:"pod"`
	Node          json.RawMessage `json:"node"`
	TrustDomain   string          `json:"trustDomain"`
	ClusterName   string          `json:"clusterName"`
	ClusterDomain string          `json:"clusterDomain"`
}

// build decodes the pod and node and returns the template data of the given shape.
func build(d Data) (any, error) {
	var pod corev1.Pod
	var node corev1.Node
	if err := decode(d.Pod, &pod); err != nil {
		return nil, fmt.Errorf("pod: %w", err)
	}
	if err := decode(d.Node, &node); err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	cluster := spireentry.Cluster{
		TrustDomain:   d.TrustDomain,
		ClusterName:   d.ClusterName,
		ClusterDomain: d.ClusterDomain,
	}
	switch d.Shape {
	case "pod":
		return spireentry.ForPod(cluster, &pod, &node), nil
	case "parentID":
		return spireentry.ForParentID(cluster, &node), nil
	default:
		return nil, fmt.Errorf("unknown shape %q (want pod or parentID)", d.Shape)
	}
}

// decode reads Kubernetes JSON; an absent document is the zero object.
func decode(raw json.RawMessage, into any) error {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	return json.Unmarshal(raw, into)
}
