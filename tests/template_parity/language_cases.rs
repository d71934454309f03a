//! The rest of the language as ClusterSPIFFEID templates use it: fields and methods of the
//! Kubernetes types, index and slice, nil pointers, missing map keys, control structures,
//! comparisons, escapers, variables, pipelines, trimming, comments and parse errors.

use super::{Case, bare, full, parent, rich};

pub const LANGUAGE_CASES: &[Case] = &[
    // Fields of every struct templates reach.
    rich(
        "rich metadata",
        "{{ .PodMeta.Name }} {{ .PodMeta.GenerateName }} {{ .PodMeta.ResourceVersion }} {{ .PodMeta.Generation }}",
    ),
    rich(
        "rich timestamps",
        "{{ .PodMeta.CreationTimestamp }}|{{ .PodMeta.DeletionTimestamp }}|{{ .PodMeta.DeletionGracePeriodSeconds }}",
    ),
    rich("finalizers", "{{ .PodMeta.Finalizers }} {{ index .PodMeta.Finalizers 0 }} {{ len .PodMeta.Finalizers }}"),
    rich(
        "owner reference fields",
        "{{ range .PodMeta.OwnerReferences }}{{ .APIVersion }} {{ .Kind }} {{ .Name }} {{ .UID }} {{ .Controller }} {{ .BlockOwnerDeletion }}{{ end }}",
    ),
    full("owner reference nil pointer", "{{ (index .PodMeta.OwnerReferences 0).BlockOwnerDeletion }}"),
    rich(
        "pod spec scalars",
        "{{ .PodSpec.RestartPolicy }} {{ .PodSpec.DNSPolicy }} {{ .PodSpec.HostNetwork }} {{ .PodSpec.HostPID }} {{ .PodSpec.NodeName }} {{ .PodSpec.Hostname }}.{{ .PodSpec.Subdomain }}",
    ),
    rich(
        "pod spec pointers",
        "{{ .PodSpec.Priority }} {{ .PodSpec.AutomountServiceAccountToken }} {{ .PodSpec.RuntimeClassName }} {{ .PodSpec.TerminationGracePeriodSeconds }} {{ .PodSpec.EnableServiceLinks }}",
    ),
    rich(
        "pod spec strings",
        "{{ .PodSpec.PriorityClassName }} {{ .PodSpec.SchedulerName }} {{ .PodSpec.NodeSelector }} {{ .PodSpec.NodeSelector.disk }}",
    ),
    bare(
        "zero pod spec pointers",
        "{{ .PodSpec.Priority }} {{ .PodSpec.RuntimeClassName }} {{ .PodSpec.HostUsers }} {{ .PodSpec.PreemptionPolicy }} {{ .PodSpec.HostnameOverride }}",
    ),
    rich(
        "pod security context",
        "{{ .PodSpec.SecurityContext.RunAsUser }} {{ .PodSpec.SecurityContext.RunAsGroup }} {{ .PodSpec.SecurityContext.RunAsNonRoot }} {{ .PodSpec.SecurityContext.FSGroup }} {{ .PodSpec.SecurityContext.FSGroupChangePolicy }}",
    ),
    rich(
        "container fields",
        "{{ with index .PodSpec.Containers 0 }}{{ .Name }} {{ .Image }} {{ .ImagePullPolicy }} {{ .SecurityContext.RunAsUser }} {{ .SecurityContext.Privileged }} {{ .SecurityContext.ReadOnlyRootFilesystem }} {{ .SecurityContext.ProcMount }}{{ end }}",
    ),
    rich("container without security context", "{{ (index .PodSpec.Containers 1).SecurityContext.RunAsUser }}"),
    rich(
        "second container",
        "{{ with index .PodSpec.Containers 1 }}{{ .WorkingDir }} {{ .TTY }} {{ .Stdin }} {{ .Command }} {{ .RestartPolicy }}{{ end }}",
    ),
    rich(
        "init containers",
        "{{ range .PodSpec.InitContainers }}{{ .Name }} {{ .Command }} {{ .Args }} {{ index .Args 0 }}{{ end }}",
    ),
    rich(
        "rich node spec",
        "{{ .NodeSpec.PodCIDR }} {{ .NodeSpec.PodCIDRs }} {{ .NodeSpec.ProviderID }} {{ .NodeSpec.Unschedulable }} [{{ .NodeSpec.DoNotUseExternalID }}]",
    ),
    bare(
        "zero values",
        "[{{ .PodMeta.Name }}][{{ .PodMeta.Labels }}][{{ .PodMeta.OwnerReferences }}][{{ .NodeSpec.PodCIDRs }}][{{ .PodMeta.Generation }}][{{ .NodeSpec.Unschedulable }}]",
    ),
    bare(
        "zero times",
        "{{ .PodMeta.CreationTimestamp }}|{{ .PodMeta.DeletionTimestamp }}|{{ .NodeMeta.CreationTimestamp.Unix }}",
    ),
    bare("zero cluster", "[{{ .TrustDomain }}][{{ .ClusterName }}][{{ .ClusterDomain }}]"),
    full("unknown top-level field", "{{ .Nope }}"),
    full("lowercase field", "{{ .podMeta }}"),
    full("unavailable pod spec field", "{{ .PodSpec.Tolerations }}"),
    full("unavailable container field", "{{ (index .PodSpec.Containers 0).Ports }}"),
    full("other method", "{{ .PodSpec.Size }}"),
    full("root prints", "{{ . }}"),
    full("pod meta prints", "{{ .PodMeta }}"),
    // Methods.
    rich(
        "getters",
        "{{ .PodMeta.GetName }} {{ .PodMeta.GetGenerateName }} {{ .PodMeta.GetGeneration }} {{ .PodMeta.GetLabels }} {{ .PodMeta.GetFinalizers }}",
    ),
    rich(
        "getter then key",
        "{{ .PodMeta.GetLabels.app }} {{ .PodMeta.GetAnnotations.team }} {{ index .PodMeta.GetLabels \"tier\" }}",
    ),
    rich("getter of a time", "{{ .PodMeta.GetCreationTimestamp }} {{ .PodMeta.GetDeletionTimestamp }}"),
    full("getter with argument", r#"{{ .PodMeta.GetName "x" }}"#),
    full(
        "time methods",
        "{{ .PodMeta.CreationTimestamp.Unix }} {{ .PodMeta.CreationTimestamp.Year }} {{ .PodMeta.CreationTimestamp.IsZero }}",
    ),
    rich(
        "time calendar methods",
        "{{ with .PodMeta.CreationTimestamp }}{{ .Year }} {{ .YearDay }} {{ .Day }} {{ .Hour }}:{{ .Minute }}:{{ .Second }} {{ .Nanosecond }}{{ end }} {{ .NodeMeta.CreationTimestamp.YearDay }}",
    ),
    bare(
        "zero time calendar methods",
        "{{ .PodMeta.CreationTimestamp.Year }} {{ .PodMeta.CreationTimestamp.YearDay }} {{ .PodMeta.CreationTimestamp.IsZero }}",
    ),
    full("time month", "{{ .PodMeta.CreationTimestamp.Month }}"),
    full("time method with argument", r#"{{ .PodMeta.CreationTimestamp.Format "2006-01-02" }}"#),
    full("method of nil time", "{{ .PodMeta.DeletionTimestamp.Unix }}"),
    rich("method of set time pointer", "{{ .PodMeta.DeletionTimestamp.Unix }}"),
    // index and slice.
    full("index missing key", r#"[{{ index .PodMeta.Labels "nope" }}][{{ index .NodeMeta.Labels "nope" }}]"#),
    full("index nil map", r#"[{{ index .PodMeta.Annotations "nope" }}]"#),
    full("index slice out of range", "{{ index .NodeSpec.PodCIDRs 2 }}"),
    full("index negative", "{{ index .NodeSpec.PodCIDRs -1 }}"),
    bare("index empty slice", "{{ index .PodMeta.OwnerReferences 0 }}"),
    full("index string", r#"{{ index "abc" 1 }} {{ index .PodMeta.Name 0 }}"#),
    full("index string out of range", r#"{{ index "abc" 3 }}"#),
    full("index no keys", "{{ index .PodMeta.Labels }}"),
    full("index two levels", "{{ index .PodSpec.Containers 0 1 }}"),
    full("index slice with string", r#"{{ index .NodeSpec.PodCIDRs "a" }}"#),
    full("index of nil", "{{ index nil 1 }}"),
    full("index of missing value", r#"{{ index .PodMeta.Labels.nope "x" }}"#),
    full("index of int", "{{ index 5 1 }}"),
    full("index nil pointer", "{{ index .PodSpec.SecurityContext 0 }}"),
    full("index with uint and int64", "{{ index .NodeSpec.PodCIDRs .PodMeta.Generation }}"),
    full("index with large uint", "{{ index .NodeSpec.PodCIDRs 18446744073709551615 }}"),
    rich(
        "index label keys",
        r#"{{ index .PodMeta.Labels "app.kubernetes.io/name" }}/{{ index .PodMeta.Annotations "spiffe.io/id" }}/[{{ index .PodMeta.Labels "empty" }}]"#,
    ),
    full("slice string", r#"{{ slice "abcdef" 1 4 }}|{{ slice "abcdef" 2 }}|{{ slice "abcdef" }}|{{ slice "abc" 3 }}"#),
    full("slice bad range", r#"{{ slice "abc" 2 1 }}"#),
    full("slice out of range", r#"{{ slice "abc" 1 5 }}"#),
    full("slice three index string", r#"{{ slice "abc" 0 1 2 }}"#),
    full("slice three index slice", "{{ slice .NodeSpec.PodCIDRs 0 1 2 }}"),
    full("slice map", "{{ slice .PodMeta.Labels 1 }}"),
    full("slice nil", "{{ slice nil }}"),
    // Nil pointers.
    full("nil security context", "{{ .PodSpec.SecurityContext.RunAsUser }}"),
    full("nil security context deeper", "{{ .PodSpec.SecurityContext.RunAsUser.Foo }}"),
    full("nil pointer in if", "{{ if .PodSpec.SecurityContext }}y{{ else }}n{{ end }}"),
    full("nil pointer and", "{{ and .PodSpec.SecurityContext .PodSpec.SecurityContext.RunAsUser }}"),
    full(
        "nil scalar pointers",
        "{{ .PodSpec.AutomountServiceAccountToken }} {{ .PodSpec.TerminationGracePeriodSeconds }} {{ .PodMeta.DeletionGracePeriodSeconds }}",
    ),
    full("nil pointer truth", "{{ if .PodSpec.Priority }}set{{ else }}unset{{ end }}"),
    rich("set false pointer truth", "{{ if .PodSpec.AutomountServiceAccountToken }}set{{ else }}unset{{ end }}"),
    parent("pod meta in parent id labels", "{{ .PodMeta.Labels.app }}"),
    parent("pod meta prints in parent id", "[{{ .PodMeta }}][{{ .PodSpec }}]"),
    parent("pod spec with in parent id", "{{ with .PodSpec }}x{{ else }}no pod{{ end }}"),
    parent(
        "parent id node fields",
        "{{ .NodeMeta.UID }} {{ .NodeMeta.Labels.zone }} {{ .NodeSpec.PodCIDR }} {{ .TrustDomain }}",
    ),
    parent("index through nil meta", r#"{{ index .PodMeta.Labels "app" }}"#),
    // Missing map keys.
    full("missing key", "{{ .PodMeta.Labels.nope }}"),
    full("missing key of nil map", "{{ .PodMeta.Annotations.nope }}"),
    full("missing key chain", "{{ .PodMeta.Labels.a.b.c }}"),
    full("missing key in variable", "{{ $x := .PodMeta.Labels.nope }}{{ $x }}"),
    full("missing key with", "{{ with .PodMeta.Labels.nope }}x{{ else }}y{{ end }}"),
    full("missing key len", "{{ len .PodMeta.Labels.nope }}"),
    full("missing key piped", r#"{{ .PodMeta.Labels.nope | printf "%s" }}"#),
    full("missing key not", "{{ not .PodMeta.Labels.nope }}"),
    full("missing key with argument", r#"{{ .PodMeta.Labels.app "x" }}"#),
    full("missing key in html", "{{ html .PodMeta.Labels.nope }}"),
    full("missing key in urlquery", "{{ urlquery .PodMeta.Labels.nope }}"),
    full("missing key in spiffe id", "spiffe://{{ .TrustDomain }}/ns/{{ .PodMeta.Labels.nope }}"),
    rich("empty label value", "[{{ .PodMeta.Labels.empty }}]{{ if .PodMeta.Labels.empty }}set{{ else }}empty{{ end }}"),
    // Labels, annotations and node labels.
    rich("labels map", "{{ .PodMeta.Labels }}"),
    rich("annotations map", "{{ .PodMeta.Annotations }}"),
    rich("annotation special characters", "{{ .PodMeta.Annotations }}|{{ index .PodMeta.Annotations \"z-last\" }}"),
    rich("range annotations", "{{ range $k, $v := .PodMeta.Annotations }}{{ $k }}={{ $v }};{{ end }}"),
    rich("range labels values only", "{{ range .PodMeta.Labels }}[{{ . }}]{{ end }}"),
    rich(
        "node labels",
        r#"{{ index .NodeMeta.Labels "topology.kubernetes.io/zone" }} {{ .NodeMeta.Labels }} [{{ index .NodeMeta.Labels "node-role.kubernetes.io/worker" }}]"#,
    ),
    rich("node labels by field", "{{ .NodeMeta.Labels.zone }}"),
    rich("node name", "{{ .NodeMeta.Name }}/{{ .NodeMeta.UID }}/{{ .NodeMeta.CreationTimestamp }}"),
    rich(
        "len of maps",
        "{{ len .PodMeta.Labels }} {{ len .PodMeta.Annotations }} {{ len .NodeMeta.Labels }} {{ len .PodSpec.NodeSelector }}",
    ),
];
