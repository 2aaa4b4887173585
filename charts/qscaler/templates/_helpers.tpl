{{/*
The name of every object: the release name when it contains "qscaler"
(`helm install qscaler ...` gives deploy/base's names), else RELEASE-qscaler.
*/}}
{{- define "qscaler.fullname" -}}
{{- if contains "qscaler" .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-qscaler" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* The selector: the one label deploy/base selects by. */}}
{{- define "qscaler.selectorLabels" -}}
app.kubernetes.io/name: qscaler
{{- end -}}

{{/* Object labels: the selector plus Helm's bookkeeping. */}}
{{- define "qscaler.labels" -}}
{{ include "qscaler.selectorLabels" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/*
Exactly the verbs qscaler uses, and nothing on Secrets: list+watch workloads
and patch their scale subresource; get/list/watch/patch HPAs (minReplicas and
the original-min-replicas annotation); create and patch Events.
*/}}
{{- define "qscaler.rules" -}}
- apiGroups: ["apps"]
  resources: ["deployments", "statefulsets"]
  verbs: ["list", "watch"]
- apiGroups: ["apps"]
  resources: ["deployments/scale", "statefulsets/scale"]
  verbs: ["patch"]
- apiGroups: ["autoscaling"]
  resources: ["horizontalpodautoscalers"]
  verbs: ["get", "list", "watch", "patch"]
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- end -}}
