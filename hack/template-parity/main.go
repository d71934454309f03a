// Command template-parity renders ClusterSPIFFEID templates with Go's own text/template, the
// way spire-controller-manager renders them, so that the Rust engine can be compared with it.
//
// It reads a JSON list of cases on stdin and writes a JSON list of results, in the same order,
// on stdout. A case is
//
//	{"name": "...", "template": "...", "data": {"shape": "pod" | "parentID",
//	 "pod": {<Pod>}, "node": {<Node>}, "trustDomain": "...", "clusterName": "...",
//	 "clusterDomain": "..."}}
//
// and a result is {"name": "...", "output": "..."} or {"name": "...", "error": {...}}, the
// error carrying its class ("parse" or "exec"), Go's full message and that message split into
// line, column, context and detail.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"time"
)

func main() {
	// metav1.Time decodes timestamps into the local zone; the operator's engine prints UTC, as
	// spire-controller-manager does in its (UTC) container.
	time.Local = time.UTC

	var cases []Case
	decoder := json.NewDecoder(os.Stdin)
	decoder.DisallowUnknownFields()
	if err := decoder.Decode(&cases); err != nil {
		fmt.Fprintf(os.Stderr, "template-parity: reading cases: %v\n", err)
		os.Exit(2)
	}
	results := make([]Result, 0, len(cases))
	for _, c := range cases {
		result, err := run(c)
		if err != nil {
			fmt.Fprintf(os.Stderr, "template-parity: case %q: %v\n", c.Name, err)
			os.Exit(2)
		}
		results = append(results, result)
	}
	encoder := json.NewEncoder(os.Stdout)
	encoder.SetEscapeHTML(false)
	encoder.SetIndent("", " ")
	if err := encoder.Encode(results); err != nil {
		fmt.Fprintf(os.Stderr, "template-parity: writing results: %v\n", err)
		os.Exit(2)
	}
}
