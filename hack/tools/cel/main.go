// Command cel evaluates Flux `healthCheckExprs` on Kubernetes objects with Flux's own evaluator
// (github.com/fluxcd/pkg/runtime/cel), the code kustomize-controller and helm-controller run:
// the observedGeneration check first, then inProgress, failed and current in that order, and
// InProgress when none holds.
//
//	cel EXPRS OBJECT...
//
// EXPRS is a YAML list of {apiVersion, kind, current, inProgress, failed}, the items of a
// Kustomization's spec.healthCheckExprs. Each OBJECT (a YAML or JSON file, or - for standard
// input) is matched to its item by apiVersion and kind. One JSON line per object:
//
//	{"status": "InProgress|Failed|Current|Unknown", "error": "...",
//	 "expressions": {"inProgress": true, "failed": false, "current": "error: ..."}}
//
// status is what Flux concludes; Unknown with an error is what Flux's status reader reports when
// an expression fails to evaluate. expressions shows what each expression alone gives.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/fluxcd/pkg/apis/kustomize"
	fluxcel "github.com/fluxcd/pkg/runtime/cel"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

type result struct {
	Status      string         `json:"status"`
	Error       string         `json:"error,omitempty"`
	Expressions map[string]any `json:"expressions"`
}

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: cel EXPRS OBJECT...")
		os.Exit(2)
	}
	if err := run(os.Args[1], os.Args[2:]); err != nil {
		fmt.Fprintf(os.Stderr, "cel: %v\n", err)
		os.Exit(1)
	}
}

func run(exprsPath string, objects []string) error {
	data, err := os.ReadFile(exprsPath)
	if err != nil {
		return err
	}
	var checks []kustomize.CustomHealthCheck
	if err := yaml.UnmarshalStrict(data, &checks); err != nil {
		return fmt.Errorf("%s: %w", exprsPath, err)
	}
	for _, path := range objects {
		u, err := readObject(path)
		if err != nil {
			return err
		}
		check := find(checks, u)
		if check == nil {
			return fmt.Errorf("%s: no expressions for %s %s", path, u.GetAPIVersion(), u.GetKind())
		}
		out, err := evaluate(check, u)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		line, err := json.Marshal(out)
		if err != nil {
			return err
		}
		fmt.Println(string(line))
	}
	return nil
}

func find(checks []kustomize.CustomHealthCheck, u *unstructured.Unstructured) *kustomize.CustomHealthCheck {
	for i := range checks {
		if checks[i].APIVersion == u.GetAPIVersion() && checks[i].Kind == u.GetKind() {
			return &checks[i]
		}
	}
	return nil
}

func evaluate(check *kustomize.CustomHealthCheck, u *unstructured.Unstructured) (*result, error) {
	ctx := context.Background()
	evaluator, err := fluxcel.NewStatusEvaluator(&check.HealthCheckExpressions)
	if err != nil {
		return nil, err
	}
	out := &result{Expressions: map[string]any{}}
	if res, err := evaluator.Evaluate(ctx, u); err != nil {
		out.Status, out.Error = "Unknown", err.Error()
	} else {
		out.Status = string(res.Status)
	}
	for name, expr := range map[string]string{
		"inProgress": check.InProgress,
		"failed":     check.Failed,
		"current":    check.Current,
	} {
		if expr == "" {
			continue
		}
		e, err := fluxcel.NewExpression(expr)
		if err != nil {
			return nil, err
		}
		if held, err := e.EvaluateBoolean(ctx, u.UnstructuredContent()); err != nil {
			out.Expressions[name] = "error: " + err.Error()
		} else {
			out.Expressions[name] = held
		}
	}
	return out, nil
}

func readObject(path string) (*unstructured.Unstructured, error) {
	var data []byte
	var err error
	if path == "-" {
		data, err = io.ReadAll(os.Stdin)
	} else {
		data, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, err
	}
	doc, err := yaml.YAMLToJSON(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(doc); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return u, nil
}
