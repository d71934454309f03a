//! One row per Go text/template behaviour a ClusterSPIFFEID template can run into. Every
//! expected output and error message is what Go's text/template produces for the same
//! template and data (positions aside).

use k8s_openapi::api::core::v1::{Node, Pod};

use crate::pod_view::PodView;
use serde_json::json;

use super::*;

const DEFAULT_SPIFFE_ID: &str =
    "spiffe://{{ .TrustDomain }}/ns/{{ .PodMeta.Namespace }}/sa/{{ .PodSpec.ServiceAccountName }}";
const DEFAULT_PARENT_ID: &str =
    "spiffe://{{ .TrustDomain }}/spire/agent/k8s_psat/{{ .ClusterName }}/{{ .NodeMeta.UID }}";

const CLUSTER: ClusterInfo<'static> =
    ClusterInfo { trust_domain: "example.org", cluster_name: "c1", cluster_domain: "cluster.local" };

fn pod() -> PodView {
    PodView::from(
        serde_json::from_value::<Pod>(json!({
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
        }))
        .expect("valid pod"),
    )
}

fn node() -> Node {
    serde_json::from_value(json!({
        "metadata": {"name": "n1", "uid": "node-uid", "labels": {"zone": "z1"}},
        "spec": {
            "podCIDR": "10.0.0.0/24",
            "podCIDRs": ["10.0.0.0/24", "fd00::/64"],
            "providerID": "aws:///i-1"
        }
    }))
    .expect("valid node")
}

#[derive(Clone, Copy)]
enum Shape {
    Pod,
    ParentId,
}

enum Expect {
    /// Renders to exactly this text.
    Text(&'static str),
    /// Fails to parse with this message.
    Parse(&'static str),
    /// Fails reading `field` through a nil pointer of type `type_name`.
    NilPointer(&'static str, &'static str),
    /// Fails calling `function` with this message.
    Function(&'static str, &'static str),
    /// Fails rendering with this message.
    Execution(&'static str),
}

use Expect::{Execution, Function, NilPointer, Parse, Text};
use Shape::{ParentId, Pod as P};

struct Case {
    name: &'static str,
    shape: Shape,
    text: &'static str,
    expect: Expect,
}

const fn case(name: &'static str, shape: Shape, text: &'static str, expect: Expect) -> Case {
    Case { name, shape, text, expect }
}

const CASES: &[Case] = &[
    // The canonical templates.
    case("default spiffe id", P, DEFAULT_SPIFFE_ID, Text("spiffe://example.org/ns/prod/sa/sa1")),
    case(
        "default parent id",
        ParentId,
        DEFAULT_PARENT_ID,
        Text("spiffe://example.org/spire/agent/k8s_psat/c1/node-uid"),
    ),
    case("cluster fields", P, "{{ .ClusterName }}/{{ .ClusterDomain }}", Text("c1/cluster.local")),
    // Fields.
    case("field", P, "{{ .PodMeta.Namespace }}", Text("prod")),
    case("uid", P, "{{ .PodMeta.UID }}", Text("pod-uid")),
    case("generation", P, "{{ .PodMeta.Generation }}", Text("3")),
    case("nested map field", P, "{{ .PodMeta.Labels.app }}", Text("web")),
    case("missing label via field", P, "{{ .PodMeta.Labels.foo }}", Text("<no value>")),
    case("missing label chained", P, "{{ .PodMeta.Labels.foo.bar }}", Text("<no value>")),
    case("nil map via field", P, "{{ .PodMeta.Annotations.x }}", Text("<no value>")),
    case("missing label via index", P, r#"{{ index .PodMeta.Labels "foo" }}"#, Text("")),
    case("nil map via index", P, r#"{{ index .PodMeta.Annotations "x" }}"#, Text("")),
    case("label key with dot and slash", P, r#"{{ index .PodMeta.Labels "app.kubernetes.io/name" }}"#, Text("web")),
    case("map prints sorted", P, "{{ .PodMeta.Labels }}", Text("map[app:web app.kubernetes.io/name:web]")),
    case("nil map prints empty", P, "{{ .PodMeta.Annotations }}", Text("map[]")),
    case("string slice", P, "{{ .NodeSpec.PodCIDRs }}", Text("[10.0.0.0/24 fd00::/64]")),
    case("index string slice", P, "{{ index .NodeSpec.PodCIDRs 1 }}", Text("fd00::/64")),
    case("node spec", P, "{{ .NodeSpec.ProviderID }} {{ .NodeSpec.Unschedulable }}", Text("aws:///i-1 false")),
    case("node label", P, "{{ .NodeMeta.Name }}-{{ .NodeMeta.Labels.zone }}", Text("n1-z1")),
    case("container field", P, "{{ (index .PodSpec.Containers 0).Image }}", Text("img:1")),
    case(
        "owner reference",
        P,
        "{{ with index .PodMeta.OwnerReferences 0 }}{{ .Kind }}/{{ .Name }}/{{ .Controller }}{{ end }}",
        Text("StatefulSet/web/true"),
    ),
    case("deprecated service account", P, "{{ .PodSpec.DeprecatedServiceAccount }}", Text("sa1")),
    case(
        "json name is not a field",
        P,
        "{{ .PodSpec.ServiceAccount }}",
        Execution("can't evaluate field ServiceAccount in type *v1.PodSpec"),
    ),
    case(
        "misspelt struct field",
        P,
        "{{ .PodMeta.Namepace }}",
        Execution("can't evaluate field Namepace in type *v1.ObjectMeta"),
    ),
    case("field of a string", P, "{{ .TrustDomain.Foo }}", Execution("can't evaluate field Foo in type string")),
    case(
        "field of a slice",
        P,
        "{{ .PodSpec.Containers.Name }}",
        Execution("can't evaluate field Name in type []v1.Container"),
    ),
    case(
        "field with arguments",
        P,
        r#"{{ .PodMeta.Name "x" }}"#,
        Execution("Name has arguments but cannot be invoked as function"),
    ),
    case(
        "unavailable field",
        P,
        "{{ .PodSpec.Volumes }}",
        Execution("field Volumes of type *v1.PodSpec is not available to templates"),
    ),
    case("getter method", P, "{{ .PodMeta.GetNamespace }}/{{ .NodeMeta.GetUID }}", Text("prod/node-uid")),
    case(
        "struct does not print",
        P,
        "{{ index .PodSpec.Containers 0 }}",
        Execution("can't print a value of type v1.Container; name one of its fields instead"),
    ),
    // Times.
    case("creation timestamp", P, "{{ .PodMeta.CreationTimestamp }}", Text("2026-01-02 03:04:05 +0000 UTC")),
    case("zero creation timestamp", P, "{{ .NodeMeta.CreationTimestamp }}", Text("0001-01-01 00:00:00 +0000 UTC")),
    case("timestamp unix", P, "{{ .PodMeta.CreationTimestamp.Unix }}", Text("1767323045")),
    case("nil time pointer", P, "{{ .PodMeta.DeletionTimestamp }}", Text("<nil>")),
    // Nil pointers.
    case(
        "field through nil pointer",
        P,
        "{{ .PodSpec.SecurityContext.RunAsUser }}",
        NilPointer("*v1.PodSecurityContext", "RunAsUser"),
    ),
    case(
        "field through nil container pointer",
        P,
        "{{ (index .PodSpec.Containers 0).SecurityContext.Privileged }}",
        NilPointer("*v1.SecurityContext", "Privileged"),
    ),
    case("nil struct pointer prints nil", P, "{{ .PodSpec.SecurityContext }}", Text("nil")),
    case("nil scalar pointer prints <nil>", P, "{{ .PodSpec.Priority }}", Text("<nil>")),
    case(
        "nil pointer is false",
        P,
        "{{ with .PodSpec.SecurityContext }}{{ .RunAsUser }}{{ else }}none{{ end }}",
        Text("none"),
    ),
    case(
        "unknown field of nil pointer",
        P,
        "{{ .PodSpec.SecurityContext.Nope }}",
        Execution("can't evaluate field Nope in type *v1.PodSecurityContext"),
    ),
    case("len of nil pointer", P, "{{ len .PodSpec.SecurityContext }}", Function("len", "len of nil pointer")),
    // Parent ID data has no pod.
    case("pod meta in parent id", ParentId, "{{ .PodMeta.Name }}", NilPointer("*v1.ObjectMeta", "Name")),
    case(
        "pod spec in parent id",
        ParentId,
        "{{ .PodSpec.ServiceAccountName }}",
        NilPointer("*v1.PodSpec", "ServiceAccountName"),
    ),
    case("pod meta absent in parent id", ParentId, "{{ if .PodMeta }}y{{ else }}n{{ end }}", Text("n")),
    case("node in parent id", ParentId, "{{ .NodeMeta.Name }}/{{ .NodeSpec.ProviderID }}", Text("n1/aws:///i-1")),
    // printf and print.
    case(
        "printf s d v",
        P,
        r#"{{ printf "%s-%d-%v" .PodMeta.Name .PodMeta.Generation .PodMeta.Labels.app }}"#,
        Text("web-0-3-web"),
    ),
    case(
        "printf flags",
        P,
        r#"{{ printf "%q %5s|%-5s|%03d %x" .PodMeta.Name "a" "b" 7 255 }}"#,
        Text(r#""web-0"     a|b    |007 ff"#),
    ),
    case("printf bad verb", P, r#"{{ printf "%d" .PodMeta.Name }}"#, Text("%!d(string=web-0)")),
    case("printf named type", P, r#"{{ printf "%d" .PodMeta.UID }}"#, Text("%!d(types.UID=pod-uid)")),
    case(
        "printf missing and extra",
        P,
        r#"{{ printf "%s %d" "a" }}|{{ printf "%s" "a" "b" 3 }}"#,
        Text("a %!d(MISSING)|a%!(EXTRA string=b, int=3)"),
    ),
    case("printf missing key", P, r#"{{ printf "%s" .PodMeta.Labels.foo }}"#, Text("%!s(<nil>)")),
    case("printf floats", P, r#"{{ printf "%.2f|%e|%g" 3.14159 1234.5678 0.00001 }}"#, Text("3.14|1.234568e+03|1e-05")),
    case(
        "printf needs a string format",
        P,
        "{{ printf .PodMeta.UID }}",
        Execution("wrong type for value; expected string; got types.UID"),
    ),
    // Found by the Go differential (tests/template_parity.rs).
    case(
        "printf plus q is ascii",
        P,
        r#"{{ printf "%+q|%+q|%#q|%#q" "héllo" 233 "a\u0001b" "tab\tok" }}"#,
        Text("\"h\\u00e9llo\"|'\\u00e9'|\"a\\x01b\"|`tab\tok`"),
    ),
    case(
        "printf sharp floats",
        P,
        r#"{{ printf "%#g|%#.3g|%#e|%#.0f|%#x" 1.0 1.0 1.0 2.0 1.0 }}"#,
        Text("1.00000|1.00|1.000000e+00|2.|0x1.0000p+00"),
    ),
    case(
        "printf hex float precision",
        P,
        r#"{{ printf "%.2x|%.0x|%.1X" 1.0 1.5 3.14159 }}"#,
        Text("0x1.00p+00|0x1p+01|0X1.9P+01"),
    ),
    case(
        "printf nil pointer verbs",
        P,
        r#"{{ printf "%d|%d|%s|%s" .PodSpec.Priority .PodSpec.SecurityContext .PodSpec.AutomountServiceAccountToken .PodMeta.DeletionTimestamp }}"#,
        Text("0|0|%!s(*bool=<nil>)|<nil>"),
    ),
    case("nil argument is the invalid value", P, "{{ not nil }} {{ eq nil nil }}", Text("true true")),
    case("len nil", P, "{{ len nil }}", Function("len", "reflect: call of reflect.Value.Type on zero Value")),
    case(
        "len of missing key",
        P,
        "{{ len .PodMeta.Labels.nope }}",
        Function("len", "reflect: call of reflect.Value.Type on zero Value"),
    ),
    case("index nil", P, "{{ index nil 1 }}", Function("index", "index of untyped nil")),
    case(
        "index at length",
        P,
        "{{ index .NodeSpec.PodCIDRs 2 }}",
        Function("index", "reflect: slice index out of range"),
    ),
    case(
        "index string at length",
        P,
        r#"{{ index "abc" 3 }}"#,
        Function("index", "reflect: string index out of range"),
    ),
    case(
        "call names the callee",
        P,
        "{{ call .PodMeta.Name }}",
        Function("call", "non-function .PodMeta.Name of type string"),
    ),
    case(
        "time calendar methods",
        P,
        "{{ .PodMeta.CreationTimestamp.Year }}-{{ .PodMeta.CreationTimestamp.YearDay }}-{{ .PodMeta.CreationTimestamp.Hour }}",
        Text("2026-2-3"),
    ),
    case("print spacing", P, r#"{{ print 1 2 "a" "b" 3 }}"#, Text("1 2ab3")),
    case("print missing value", P, "{{ print .PodMeta.Labels.foo }}", Text("<nil>")),
    case("float constants", P, "{{ 1000000.0 }} {{ 100000.0 }} {{ 1.5 }}", Text("1e+06 100000 1.5")),
    case("number literals", P, "{{ 0x1F }} {{ 0o17 }} {{ 0b101 }} {{ 1_000 }} {{ 'a' }}", Text("31 15 5 1000 97")),
    // len, index, slice.
    case(
        "len",
        P,
        "{{ len .PodMeta.Labels }} {{ len .PodSpec.Containers }} {{ len .PodMeta.Name }} {{ len .PodMeta.Annotations }}",
        Text("2 2 5 0"),
    ),
    case("index out of range", P, "{{ index .PodSpec.Containers 5 }}", Function("index", "index out of range: 5")),
    case(
        "index map with int",
        P,
        "{{ index .PodMeta.Labels 3 }}",
        Function("index", "value has type int; should be string"),
    ),
    case("slice", P, r#"{{ slice .PodMeta.Name 1 3 }} {{ slice .NodeSpec.PodCIDRs 1 }}"#, Text("eb [fd00::/64]")),
    // Comparisons and logic.
    case("eq", P, r#"{{ eq .PodMeta.Namespace "prod" }}"#, Text("true")),
    case("eq any of", P, r#"{{ eq .PodMeta.Namespace "dev" "prod" }}"#, Text("true")),
    case("ne", P, r#"{{ ne .PodMeta.Namespace "prod" }}"#, Text("false")),
    case("eq int64 with int", P, "{{ eq .PodMeta.Generation 3 }}", Text("true")),
    case("eq missing", P, r#"{{ eq .PodMeta.Labels.foo "x" }}"#, Text("false")),
    case(
        "lt le gt ge",
        P,
        r#"{{ lt 1 2 }} {{ le "b" "a" }} {{ gt .PodMeta.Generation 2 }} {{ ge 3 3 }}"#,
        Text("true false true true"),
    ),
    case(
        "eq incompatible",
        P,
        "{{ eq .PodMeta.Name 3 }}",
        Function("eq", "incompatible types for comparison: string and int"),
    ),
    case("lt bool", P, "{{ lt true false }}", Function("lt", "invalid type for comparison")),
    case("eq needs two", P, "{{ eq 1 }}", Function("eq", "missing argument for comparison")),
    case("and", P, "{{ and .PodMeta.Name .PodMeta.Namespace }}", Text("prod")),
    case("and stops at false", P, r#"{{ and .PodMeta.Name .PodMeta.GenerateName "x" }}"#, Text("")),
    case("or", P, r#"{{ or .PodMeta.GenerateName "fallback" }}"#, Text("fallback")),
    case("or with missing label", P, r#"{{ or .PodMeta.Labels.team "none" }}"#, Text("none")),
    case("not", P, "{{ not .NodeSpec.Unschedulable }} {{ not .PodMeta.Name }}", Text("true false")),
    case("wrong argument count", P, "{{ and }}", Execution("wrong number of args for and: want at least 1 got 0")),
    // Control structures.
    case(
        "if else if",
        P,
        r#"{{ if eq .PodMeta.Namespace "dev" }}d{{ else if eq .PodMeta.Namespace "prod" }}p{{ else }}o{{ end }}"#,
        Text("p"),
    ),
    case("with", P, "{{ with .PodMeta.Labels.app }}app={{ . }}{{ end }}", Text("app=web")),
    case(
        "else with",
        P,
        "{{ with .PodMeta.Labels.nope }}x{{ else with .PodMeta.Labels.app }}{{ . }}{{ end }}",
        Text("web"),
    ),
    case(
        "range slice",
        P,
        "{{ range .PodSpec.Containers }}{{ .Name }}:{{ .Image }},{{ end }}",
        Text("c1:img:1,c2:img:2,"),
    ),
    case(
        "range map in key order",
        P,
        "{{ range $k, $v := .PodMeta.Labels }}{{ $k }}={{ $v }};{{ end }}",
        Text("app=web;app.kubernetes.io/name=web;"),
    ),
    case("range else", P, "{{ range .PodSpec.InitContainers }}x{{ else }}none{{ end }}", Text("none")),
    case("range index", P, "{{ range $i, $c := .PodSpec.Containers }}{{ $i }}{{ $c.Name }}{{ end }}", Text("0c11c2")),
    case("range integer", P, "{{ range 3 }}{{ . }}{{ end }}", Text("012")),
    case(
        "break and continue",
        P,
        "{{ range 5 }}{{ if eq . 1 }}{{ continue }}{{ end }}{{ if eq . 3 }}{{ break }}{{ end }}{{ . }}{{ end }}",
        Text("02"),
    ),
    case("range over string", P, "{{ range .PodMeta.Name }}{{ end }}", Execution("range can't iterate over web-0")),
    case(
        "range iteration limit",
        P,
        "{{ range 100001 }}{{ end }}",
        Execution("range runs more than 100000 iterations"),
    ),
    // Variables and templates.
    case(
        "variable and root",
        P,
        "{{ $ns := .PodMeta.Namespace }}{{ $ns }}/{{ $.TrustDomain }}",
        Text("prod/example.org"),
    ),
    case(
        "root inside range",
        P,
        "{{ range .PodSpec.Containers }}{{ $.PodMeta.Name }}.{{ .Name }} {{ end }}",
        Text("web-0.c1 web-0.c2 "),
    ),
    case("assignment", P, "{{ $x := 1 }}{{ if true }}{{ $x = 2 }}{{ end }}{{ $x }}", Text("2")),
    case(
        "define and template",
        P,
        r#"{{ define "ns" }}ns/{{ .Namespace }}{{ end }}{{ template "ns" .PodMeta }}"#,
        Text("ns/prod"),
    ),
    case("block", P, r#"{{ block "b" .NodeMeta }}{{ .Name }}{{ end }}"#, Text("n1")),
    case("missing template", P, r#"{{ template "zz" }}"#, Execution(r#"template "zz" not defined"#)),
    // Text and whitespace.
    case("trim markers", P, "a  {{- .PodMeta.Name -}}  b", Text("aweb-0b")),
    case("trim around comment", P, "a {{- /* note */ -}} b {{/* x */}} c", Text("ab  c")),
    case("escapers", P, r#"{{ html "<a>" }} {{ js "it's" }} {{ urlquery "a b&c" }}"#, Text(r"&lt;a&gt; it\'s a+b%26c")),
    case("pipeline", P, r#"{{ .PodMeta.Name | len | printf "%d chars" }}"#, Text("5 chars")),
    case("non-function with argument", P, r#"{{ "a" "b" }}"#, Execution(r#"can't give argument to non-function "a""#)),
    case("nil command", P, "{{ nil }}", Execution("nil is not a command")),
    // Parse errors.
    case("unclosed action", P, "{{ .PodMeta.Name", Parse("unclosed action")),
    case("unknown function", P, "{{ upper .PodMeta.Name }}", Parse(r#"function "upper" not defined"#)),
    case("stray end", P, "a{{ end }}b", Parse("unexpected {{end}}")),
    case("stray else", P, "{{ else }}", Parse("unexpected {{else}}")),
    case("unclosed if", P, "{{ if .PodMeta.Name }}x", Parse("unexpected EOF")),
    case("undefined variable", P, "{{ $x }}", Parse(r#"undefined variable "$x""#)),
    case("break outside range", P, "{{ break }}", Parse("{{break}} outside {{range}}")),
    case("empty action", P, "{{ }}", Parse("missing value for command")),
    case("constant in pipeline", P, "{{ 1 | 2 }}", Parse("non executable command in pipeline stage 2")),
    case("unterminated string", P, r#"{{ "abc }}"#, Parse("unterminated quoted string")),
    case("unclosed comment", P, "{{/* x }}", Parse("unclosed comment")),
    case("bad character", P, "{{ .PodMeta.Na#me }}", Parse("bad character U+0023 '#'")),
    case("field of a constant", P, r#"{{ "a".Foo }}"#, Parse(r#"unexpected . after term "\"a\"""#)),
    case("unclosed paren", P, "{{ (.PodMeta.Name }}", Parse("unclosed left paren")),
    case("integer overflow", P, "{{ 99999999999999999999 }}", Parse(r#"integer overflow: "99999999999999999999""#)),
    case(
        "duplicate definition",
        P,
        r#"{{ define "x" }}a{{ end }}{{ define "x" }}b{{ end }}"#,
        Parse(r#"template: multiple definition of template "x""#),
    ),
];

fn render(shape: Shape, text: &str) -> Result<String, TemplateError> {
    let (pod, node) = (pod(), node());
    let data = match shape {
        Shape::Pod => TemplateData::for_pod(CLUSTER, &pod, &node),
        Shape::ParentId => TemplateData::for_parent_id(CLUSTER, &node),
    };
    Template::parse(text)?.render(&data)
}

#[test]
fn go_semantics() {
    let mut failures = Vec::new();
    for case in CASES {
        let got = render(case.shape, case.text);
        let ok = match (&case.expect, &got) {
            (Text(want), Ok(text)) => text == want,
            (Parse(want), Err(TemplateError::Parse { message, .. })) => message == want,
            (NilPointer(ty, f), Err(TemplateError::NilPointer { type_name, field, .. })) => {
                type_name == ty && field == f
            }
            (Function(name, want), Err(TemplateError::Function { function, message, .. })) => {
                function == name && message == want
            }
            (Execution(want), Err(TemplateError::Execution { message, .. })) => message == want,
            _ => false,
        };
        if !ok {
            failures.push(format!("{}: {:?}", case.name, got));
        }
    }
    assert!(failures.is_empty(), "failing cases:\n{}", failures.join("\n"));
}

#[test]
fn parse_errors_happen_at_parse_time() {
    let err = Template::parse("{{ upper .PodMeta.Name }}").unwrap_err();
    assert!(err.is_parse());
    assert_eq!(err.to_string(), r#"template: parse error at line 1: function "upper" not defined"#);
    let err = Template::parse("a\nb\n{{ if true }}").unwrap_err();
    assert_eq!(err, TemplateError::Parse { line: 3, message: "unexpected EOF".into() });
}

#[test]
fn execution_errors_name_the_expression() {
    let err = render(Shape::Pod, "spiffe://x/\n  {{ .PodSpec.SecurityContext.RunAsUser }}").unwrap_err();
    assert!(!err.is_parse());
    assert_eq!(
        err.to_string(),
        "template: 2:13 at <.PodSpec.SecurityContext.RunAsUser>: \
         nil pointer evaluating *v1.PodSecurityContext.RunAsUser"
    );
    let err = render(Shape::Pod, "{{ index .PodSpec.Containers 5 }}").unwrap_err();
    assert_eq!(
        err.to_string(),
        "template: 1:3 at <index .PodSpec.Containers 5>: error calling index: index out of range: 5"
    );
}

#[test]
fn a_pod_without_spec_reads_as_the_zero_spec() {
    let pod = PodView::from(Pod::default());
    let node = Node::default();
    let data = TemplateData::for_pod(CLUSTER, &pod, &node);
    let template = Template::parse(
        "[{{ .PodSpec.ServiceAccountName }}][{{ .PodMeta.Labels.x }}][{{ len .PodSpec.Containers }}][{{ .NodeSpec.PodCIDR }}]",
    )
    .unwrap();
    assert_eq!(template.render(&data).unwrap(), "[][<no value>][0][]");
}

#[test]
fn one_template_renders_many_pods() {
    let template = Template::parse(DEFAULT_SPIFFE_ID).unwrap();
    let node = node();
    let pods: Vec<PodView> = (0..10_000)
        .map(|i| {
            let mut p = pod();
            p.metadata.namespace = Some(format!("ns-{i}"));
            p
        })
        .collect();
    for (i, p) in pods.iter().enumerate() {
        let data = TemplateData::for_pod(CLUSTER, p, &node);
        assert_eq!(template.render(&data).unwrap(), format!("spiffe://example.org/ns/ns-{i}/sa/sa1"));
    }
}

#[test]
fn templates_are_shareable_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Template>();
    assert_send_sync::<TemplateError>();
}
