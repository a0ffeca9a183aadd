{{/* Chart name, truncated to the 63 characters of a DNS label. */}}
{{- define "crm-gateway.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Fully qualified app name. */}}
{{- define "crm-gateway.fullname" -}}
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

{{- define "crm-gateway.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every object, without the component. */}}
{{- define "crm-gateway.commonLabels" -}}
helm.sh/chart: {{ include "crm-gateway.chart" . }}
app.kubernetes.io/name: {{ include "crm-gateway.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: crm-gateway
{{- end }}

{{/* Labels of the gateway's objects. */}}
{{- define "crm-gateway.labels" -}}
{{ include "crm-gateway.commonLabels" . }}
app.kubernetes.io/component: gateway
{{- end }}

{{- define "crm-gateway.selectorLabels" -}}
app.kubernetes.io/name: {{ include "crm-gateway.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: gateway
{{- end }}

{{- define "crm-gateway.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "crm-gateway.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "crm-gateway.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/* The Secret loaded as environment variables: existingSecret, else the chart's own if it has values. */}}
{{- define "crm-gateway.secretName" -}}
{{- if .Values.secrets.existingSecret }}
{{- .Values.secrets.existingSecret }}
{{- else if .Values.secrets.values }}
{{- printf "%s-env" (include "crm-gateway.fullname" .) }}
{{- end }}
{{- end }}

{{- define "crm-gateway.redisName" -}}
{{- printf "%s-redis" (include "crm-gateway.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* GATEWAY_REDIS_URL set by the chart: the bundled Redis, else redis.url; empty means from the Secret. */}}
{{- define "crm-gateway.redisURL" -}}
{{- if .Values.redis.bundled.enabled }}
{{- printf "redis://%s:6379/0" (include "crm-gateway.redisName" .) }}
{{- else }}
{{- .Values.redis.url }}
{{- end }}
{{- end }}

{{/* How many replicas may share the vendor limits (GATEWAY_REPLICAS, read by config.redis.replicas). */}}
{{- define "crm-gateway.maxReplicas" -}}
{{- if .Values.autoscaling.enabled }}{{ .Values.autoscaling.maxReplicas }}{{ else }}{{ .Values.replicaCount }}{{ end }}
{{- end }}

{{/* values.config parsed, failing the render when it is not a YAML mapping. */}}
{{- define "crm-gateway.checkConfig" -}}
{{- $cfg := fromYaml .Values.config }}
{{- if hasKey $cfg "Error" }}
{{- fail (printf "config is not valid YAML: %s" (get $cfg "Error")) }}
{{- end }}
{{- end }}
