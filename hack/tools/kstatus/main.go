// Command kstatus prints what kstatus (sigs.k8s.io/cli-utils/pkg/kstatus/status), the library
// Flux's health checks and `kubectl wait`-style tools use, computes for Kubernetes objects: one
// {"status", "message"} JSON line per object.
//
//	kstatus OBJECT...
//
// An OBJECT is a YAML or JSON file holding one object, or - for standard input.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/yaml"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: kstatus OBJECT...")
		os.Exit(2)
	}
	for _, path := range os.Args[1:] {
		if err := compute(path); err != nil {
			fmt.Fprintf(os.Stderr, "kstatus: %s: %v\n", path, err)
			os.Exit(1)
		}
	}
}

func compute(path string) error {
	var data []byte
	var err error
	if path == "-" {
		data, err = io.ReadAll(os.Stdin)
	} else {
		data, err = os.ReadFile(path)
	}
	if err != nil {
		return err
	}
	// YAML to JSON first, then the unstructured decoder: numbers become int64 as they are in
	// objects read from the API server.
	doc, err := yaml.YAMLToJSON(data)
	if err != nil {
		return err
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(doc); err != nil {
		return err
	}
	result, err := status.Compute(u)
	if err != nil {
		return err
	}
	out, err := json.Marshal(map[string]string{"status": result.Status.String(), "message": result.Message})
	if err != nil {
		return err
	}
	fmt.Println(string(out))
	return nil
}
