{{/*
Chart name, truncated to 63 characters (a label value's limit).
*/}}
{{- define "flink-monitor.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name of the release's objects: <release>-<chart>, or the release name alone when it
already contains the chart name. Truncated to 63 characters (DNS label limit).
*/}}
{{- define "flink-monitor.fullname" -}}
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

{{- define "flink-monitor.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels of every object.
*/}}
{{- define "flink-monitor.labels" -}}
helm.sh/chart: {{ include "flink-monitor.chart" . }}
{{ include "flink-monitor.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: flink-monitor
{{- end }}

{{/*
Labels that select the pods (Deployment, Service, PodDisruptionBudget, NetworkPolicy).
Never change them: a Deployment's selector cannot be updated.
*/}}
{{- define "flink-monitor.selectorLabels" -}}
app.kubernetes.io/name: {{ include "flink-monitor.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "flink-monitor.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "flink-monitor.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "flink-monitor.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}

{{- define "flink-monitor.leaseName" -}}
{{- default (include "flink-monitor.fullname" .) .Values.leaseName }}
{{- end }}

{{/*
"true" when the binary talks to Kubernetes (and so needs RBAC and a token).
*/}}
{{- define "flink-monitor.kubernetes" -}}
{{- if ne .Values.kubernetes "off" }}true{{ end }}
{{- end }}

{{/*
"true" when more than one replica runs: leader election and its Lease RBAC.
*/}}
{{- define "flink-monitor.leaderElection" -}}
{{- if gt (int .Values.replicaCount) 1 }}true{{ end }}
{{- end }}

{{/*
RBAC rules. They must equal what `flink-monitor rbac [--enable-stop] [--leader-election]`
prints (src/rbac.rs); scripts/chart-check.py compares them.
"namespaced": granted in every watched namespace (in the ClusterRole when all are watched).
*/}}
{{- define "flink-monitor.rules.namespaced" -}}
- apiGroups: [""]
  resources: ["services"]
  verbs: ["list", "watch"]
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["get", "create", "patch"]
- apiGroups: ["flink.apache.org"]
  resources: ["flinkdeployments"]
  verbs: ["list", "watch"]
- apiGroups: ["flinkmonitor.dev"]
  resources: ["flinkjobs"]
  verbs: ["create", "list", "watch"]
- apiGroups: ["flinkmonitor.dev"]
  resources: ["flinkjobs/status"]
  verbs: ["patch"]
{{- end }}

{{/*
"cluster": cluster-scoped, only with stop enabled (callers are checked with a TokenReview
and a SubjectAccessReview).
*/}}
{{- define "flink-monitor.rules.cluster" -}}
- apiGroups: ["authentication.k8s.io"]
  resources: ["tokenreviews"]
  verbs: ["create"]
- apiGroups: ["authorization.k8s.io"]
  resources: ["subjectaccessreviews"]
  verbs: ["create"]
{{- end }}

{{/*
"lease": in the release namespace, only with leader election.
*/}}
{{- define "flink-monitor.rules.lease" -}}
- apiGroups: ["coordination.k8s.io"]
  resources: ["leases"]
  verbs: ["create", "get", "update"]
{{- end }}

{{/*
Subjects of every binding: the release's ServiceAccount.
*/}}
{{- define "flink-monitor.subjects" -}}
- kind: ServiceAccount
  name: {{ include "flink-monitor.serviceAccountName" . }}
  namespace: {{ .Release.Namespace }}
{{- end }}

{{/*
FLINK_MONITOR_CLUSTERS: NAME=URL,NAME=URL. Duplicate names fail here rather than at
start-up of the pod.
*/}}
{{- define "flink-monitor.clusters" -}}
{{- $seen := dict }}
{{- $entries := list }}
{{- range .Values.clusters }}
{{- if hasKey $seen .name }}
{{- fail (printf "clusters: the name %q is given more than once" .name) }}
{{- end }}
{{- $_ := set $seen .name true }}
{{- $entries = append $entries (printf "%s=%s" .name .url) }}
{{- end }}
{{- join "," $entries }}
{{- end }}
