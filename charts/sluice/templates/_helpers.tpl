{{/* Names and labels shared by every template. */}}
{{- define "sluice.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "sluice.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "sluice.selectorLabels" -}}
app.kubernetes.io/name: {{ include "sluice.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "sluice.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "sluice.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "sluice.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "sluice.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* Rules sluice needs in every namespace it watches. */}}
{{- define "sluice.namespacedRules" -}}
# sluice's own kinds: read from informer caches, status written back.
- apiGroups: [sluice.dev]
  resources: [gitrepositories, syncs, receivers, canaries, metrictemplates, alertproviders, alerts]
  verbs: [get, list, watch]
# Receivers and the canary controller annotate these (reconcile-now requests).
- apiGroups: [sluice.dev]
  resources: [gitrepositories, syncs, canaries]
  verbs: [patch]
- apiGroups: [sluice.dev]
  resources: [gitrepositories/status, syncs/status, receivers/status, canaries/status, metrictemplates/status, alertproviders/status, alerts/status]
  verbs: [get, patch, update]
# Every stage becomes a Kubernetes Event (repeats are patched, not duplicated).
- apiGroups: [events.k8s.io]
  resources: [events]
  verbs: [create, patch]
{{- with .Values.rbac.applyRules }}
{{ toYaml . }}
{{- end }}
{{- with .Values.rbac.extraRules }}
{{ toYaml . }}
{{- end }}
{{- end -}}
