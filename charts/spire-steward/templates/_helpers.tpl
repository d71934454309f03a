{{/*
Chart name, overridable with nameOverride.
*/}}
{{- define "spire-steward.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name of the release's resources: fullnameOverride, else the release name, suffixed with the
chart name unless the release name already contains it. Truncated to 63 characters.
*/}}
{{- define "spire-steward.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Chart name and version, for the helm.sh/chart label.
*/}}
{{- define "spire-steward.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels on every resource.
*/}}
{{- define "spire-steward.labels" -}}
helm.sh/chart: {{ include "spire-steward.chart" . }}
{{ include "spire-steward.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: operator
{{- end }}

{{/*
Labels that select the operator's pods.
*/}}
{{- define "spire-steward.selectorLabels" -}}
app.kubernetes.io/name: {{ include "spire-steward.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Name of the ServiceAccount.
*/}}
{{- define "spire-steward.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "spire-steward.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The container image: repository@digest, else repository:tag (tag defaults to appVersion).
*/}}
{{- define "spire-steward.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
Name and namespace of the leader-election Lease.
*/}}
{{- define "spire-steward.leaseName" -}}
{{- default (include "spire-steward.fullname" .) .Values.config.leaderElection.resourceName }}
{{- end }}

{{- define "spire-steward.leaseNamespace" -}}
{{- default .Release.Namespace .Values.config.leaderElection.resourceNamespace }}
{{- end }}

{{/*
Directory and path of the configuration file inside the container.
*/}}
{{- define "spire-steward.configDir" -}}
/etc/spire-steward
{{- end }}

{{- define "spire-steward.configFile" -}}
config.yaml
{{- end }}

{{/*
The operator's configuration file (kind OperatorConfig), from .Values.config and the settings
that derive spireServerSocketPath, metrics.bindAddress and health.healthProbeBindAddress.
Every value is written as JSON, which YAML reads unchanged (quoting included).
*/}}
{{- define "spire-steward.config" -}}
{{- $c := .Values.config }}
{{- $le := $c.leaderElection }}
{{- $rec := $c.reconcile }}
{{- $socket := printf "%s/%s" (trimSuffix "/" .Values.spireServerSocket.mountPath) .Values.spireServerSocket.fileName }}
{{- $metrics := ternary (printf ":%v" .Values.metrics.port) "0" .Values.metrics.enabled -}}
apiVersion: spire-steward.io/v1alpha1
kind: OperatorConfig
trustDomain: {{ required "config.trustDomain is required" $c.trustDomain | toJson }}
clusterName: {{ required "config.clusterName is required" $c.clusterName | toJson }}
clusterDomain: {{ $c.clusterDomain | default "" | toJson }}
ignoreNamespaces: {{ $c.ignoreNamespaces | default list | toJson }}
className: {{ $c.className | default "" | toJson }}
watchClassless: {{ eq ($c.watchClassless | toString) "true" }}
filterByClassName: {{ eq ($c.filterByClassName | toString) "true" }}
{{- with $c.clusterSPIFFEIDLabelSelector }}
clusterSPIFFEIDLabelSelector: {{ toJson . }}
{{- end }}
parentIDTemplate: {{ required "config.parentIDTemplate is required" $c.parentIDTemplate | toJson }}
entryIDPrefix: {{ required "config.entryIDPrefix is required" $c.entryIDPrefix | toJson }}
adoptEntryIDPrefixes: {{ $c.adoptEntryIDPrefixes | default list | toJson }}
spireServerSocketPath: {{ $socket | toJson }}
spireCallTimeout: {{ $c.spireCallTimeout | toJson }}
reconcile:
  clusterSPIFFEIDs: {{ ne ($rec.clusterSPIFFEIDs | toString) "false" }}
  clusterStaticEntries: {{ ne ($rec.clusterStaticEntries | toString) "false" }}
  clusterFederatedTrustDomains: {{ ne ($rec.clusterFederatedTrustDomains | toString) "false" }}
gcInterval: {{ $c.gcInterval | toJson }}
exceptionWarningWindow: {{ $c.exceptionWarningWindow | toJson }}
audit:
{{- if $c.audit.path }}
  path: {{ $c.audit.path | toJson }}
{{- else }}
  stdout: {{ eq ($c.audit.stdout | toString) "true" }}
{{- end }}
openReports:
  enabled: {{ eq ($c.openReports.enabled | toString) "true" }}
  interval: {{ $c.openReports.interval | toJson }}
mode: {{ $c.mode | default "Enforce" | toJson }}
deletionBreaker:
  maxSharePercent: {{ $c.deletionBreaker.maxSharePercent | toJson }}
  minDeletions: {{ $c.deletionBreaker.minDeletions | toJson }}
driftPolicy: {{ $c.driftPolicy | default "Enforce" | toJson }}
leaderElection:
  leaderElect: {{ eq ($le.leaderElect | toString) "true" }}
  resourceName: {{ include "spire-steward.leaseName" . | toJson }}
  resourceNamespace: {{ include "spire-steward.leaseNamespace" . | toJson }}
  leaseDuration: {{ $le.leaseDuration | toJson }}
  renewDeadline: {{ $le.renewDeadline | toJson }}
  retryPeriod: {{ $le.retryPeriod | toJson }}
metrics:
  bindAddress: {{ $metrics | toJson }}
health:
  healthProbeBindAddress: {{ printf ":%v" .Values.health.port | toJson }}
logLevel: {{ $c.logLevel | toJson }}
logEncoding: {{ $c.logEncoding | toJson }}
{{- end }}
