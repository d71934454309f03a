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
{{/*
Namespace of the ServiceAccount the roles are bound to: the spire-server pod's in sidecar mode.
*/}}
{{- define "spire-steward.serviceAccountNamespace" -}}
{{- if .Values.sidecar.enabled }}
{{- default .Release.Namespace .Values.sidecar.serviceAccount.namespace }}
{{- else }}
{{- .Release.Namespace }}
{{- end }}
{{- end }}

{{- define "spire-steward.serviceAccountName" -}}
{{- if .Values.sidecar.enabled }}
{{- .Values.sidecar.serviceAccount.name }}
{{- else if .Values.serviceAccount.create }}
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
{{- $socketDir := ternary .Values.sidecar.socketMountPath .Values.spireServerSocket.mountPath .Values.sidecar.enabled }}
{{- $socket := printf "%s/%s" (trimSuffix "/" $socketDir) .Values.spireServerSocket.fileName }}
{{- $metrics := ternary (printf ":%v" (include "spire-steward.metricsPort" .)) "0" .Values.metrics.enabled -}}
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
{{- if and $c.spireServerAddress (not .Values.sidecar.enabled) }}
spireServerAddress: {{ $c.spireServerAddress | toJson }}
spireAgentSocketPath: {{ printf "%s/%s" (trimSuffix "/" .Values.workloadAPI.mountPath) .Values.workloadAPI.fileName | toJson }}
{{- with $c.spireServerSPIFFEID }}
spireServerSPIFFEID: {{ . | toJson }}
{{- end }}
{{- end }}
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
  healthProbeBindAddress: {{ printf ":%v" (include "spire-steward.healthPort" .) | toJson }}
logLevel: {{ $c.logLevel | toJson }}
logEncoding: {{ $c.logEncoding | toJson }}
{{- end }}

{{/*
The operator's container: in the chart's Deployment, or (sidecar.enabled) in the spire-server
pod of the SPIRE chart. Parameters: root (the chart's context), configVolume, socketVolume and
socketMountPath (the volumes that hold the configuration and the SPIRE Server socket).
*/}}
{{- define "spire-steward.container" -}}
{{- $r := .root -}}
- name: spire-steward
  image: {{ include "spire-steward.image" $r | quote }}
  imagePullPolicy: {{ $r.Values.image.pullPolicy }}
  command:
    {{- toYaml $r.Values.command | nindent 4 }}
  args:
    - run
    - --config
    - {{ include "spire-steward.configDir" $r }}/{{ include "spire-steward.configFile" $r }}
    {{- with $r.Values.extraArgs }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  env:
    - name: POD_NAME
      valueFrom:
        fieldRef:
          fieldPath: metadata.name
    - name: POD_NAMESPACE
      valueFrom:
        fieldRef:
          fieldPath: metadata.namespace
    {{- with $r.Values.extraEnv }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  ports:
    {{- if $r.Values.metrics.enabled }}
    - name: metrics
      containerPort: {{ include "spire-steward.metricsPort" $r }}
      protocol: TCP
    {{- end }}
    - name: health
      containerPort: {{ include "spire-steward.healthPort" $r }}
      protocol: TCP
  livenessProbe:
    httpGet:
      path: /healthz
      port: health
    {{- toYaml $r.Values.probes.liveness | nindent 4 }}
  readinessProbe:
    httpGet:
      path: /readyz
      port: health
    {{- toYaml $r.Values.probes.readiness | nindent 4 }}
  {{- $security := deepCopy (default (dict) $r.Values.securityContext) }}
  {{- if $r.Values.sidecar.enabled }}
  {{- /* In another chart's pod: what restricted asks of a pod, on the container itself. */}}
  {{- $_ := set $security "runAsNonRoot" true }}
  {{- $_ := set $security "seccompProfile" (dict "type" "RuntimeDefault") }}
  {{- end }}
  {{- with $security }}
  securityContext:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $r.Values.resources }}
  resources:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  volumeMounts:
    - name: {{ .configVolume }}
      mountPath: {{ include "spire-steward.configDir" $r }}
      readOnly: true
    {{- if and $r.Values.config.spireServerAddress (not $r.Values.sidecar.enabled) }}
    - name: spiffe-workload-api
      mountPath: {{ $r.Values.workloadAPI.mountPath }}
      readOnly: true
    {{- else }}
    - name: {{ .socketVolume }}
      mountPath: {{ .socketMountPath }}
      readOnly: true
    {{- end }}
    {{- if $r.Values.config.audit.path }}
    - name: audit
      mountPath: {{ dir $r.Values.config.audit.path }}
    {{- end }}
    {{- with $r.Values.extraVolumeMounts }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
{{- end }}

{{/*
The metrics and health ports: in sidecar mode the spire-server pod's (8080 and 8081 are the
SPIRE Server's own there).
*/}}
{{- define "spire-steward.metricsPort" -}}
{{- ternary .Values.sidecar.metricsPort .Values.metrics.port .Values.sidecar.enabled }}
{{- end }}

{{- define "spire-steward.healthPort" -}}
{{- ternary .Values.sidecar.healthPort .Values.health.port .Values.sidecar.enabled }}
{{- end }}
