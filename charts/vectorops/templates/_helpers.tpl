{{/*
Names, labels and small pieces shared by the templates.
*/}}

{{/* The chart name, or nameOverride. */}}
{{- define "vectorops.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* release-chart, shortened to the release name when it already contains the chart name. */}}
{{- define "vectorops.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "vectorops.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The standard labels (https://kubernetes.io/docs/concepts/overview/working-with-objects/common-labels/). */}}
{{- define "vectorops.labels" -}}
helm.sh/chart: {{ include "vectorops.chart" . }}
app.kubernetes.io/name: {{ include "vectorops.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: vectorops
{{- end -}}

{{/* Selector labels of one component (operator, gateway); call with (list $ "operator"). */}}
{{- define "vectorops.selectorLabels" -}}
{{- $root := index . 0 -}}
app.kubernetes.io/name: {{ include "vectorops.name" $root }}
app.kubernetes.io/instance: {{ $root.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{/* Standard labels plus the component; call with (list $ "operator"). */}}
{{- define "vectorops.componentLabels" -}}
{{ include "vectorops.labels" (index . 0) }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{- define "vectorops.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "vectorops.operatorName" -}}
{{- printf "%s-operator" (include "vectorops.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "vectorops.gatewayName" -}}
{{- printf "%s-gateway" (include "vectorops.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "vectorops.operatorServiceAccount" -}}
{{- if .Values.operator.serviceAccount.create -}}
{{- default (include "vectorops.operatorName" .) .Values.operator.serviceAccount.name -}}
{{- else -}}
{{- required "operator.serviceAccount.name is required when operator.serviceAccount.create is false" .Values.operator.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "vectorops.gatewayServiceAccount" -}}
{{- if .Values.gateway.serviceAccount.create -}}
{{- default (include "vectorops.gatewayName" .) .Values.gateway.serviceAccount.name -}}
{{- else -}}
{{- required "gateway.serviceAccount.name is required when gateway.serviceAccount.create is false" .Values.gateway.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The namespace whose models the gateway serves: gateway.namespace, else the release namespace. */}}
{{- define "vectorops.gatewayNamespace" -}}
{{- default .Release.Namespace .Values.gateway.namespace -}}
{{- end -}}

{{/* The kopf peering object's name (one per release). */}}
{{- define "vectorops.peeringName" -}}
{{- include "vectorops.fullname" . -}}
{{- end -}}

{{/* Namespaced RBAC mode: the operator watches exactly rbac.namespaces. */}}
{{- define "vectorops.namespaced" -}}
{{- if eq .Values.rbac.scope "namespaced" -}}
{{- if not .Values.rbac.namespaces -}}
{{- fail "rbac.scope is namespaced: list the namespaces to watch in rbac.namespaces" -}}
{{- end -}}
true
{{- end -}}
{{- end -}}

{{/*
The restricted Pod Security profile, for every pod and container of the chart
(https://kubernetes.io/docs/concepts/security/pod-security-standards/#restricted).
*/}}
{{- define "vectorops.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
fsGroup: 65532
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "vectorops.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
privileged: false
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/*
The custom resources the operator pods' init container applies (files/scripts/ensure_objects.py): kopf's
peering object(s) and the optional default VectorStore, as a JSON list of {path, manifest}. Not Helm
resources: Helm cannot reliably create a custom resource of a CRD the same release installs.
*/}}
{{- define "vectorops.ensuredObjects" -}}
{{- $objs := list -}}
{{- $name := include "vectorops.peeringName" . -}}
{{- $labels := dict "app.kubernetes.io/part-of" "vectorops" "app.kubernetes.io/instance" .Release.Name -}}
{{- if include "vectorops.namespaced" . -}}
{{- range .Values.rbac.namespaces -}}
{{- $meta := dict "name" $name "namespace" . "labels" $labels -}}
{{- $objs = append $objs (dict "path" (printf "/apis/kopf.dev/v1/namespaces/%s/kopfpeerings/%s" . $name) "manifest" (dict "apiVersion" "kopf.dev/v1" "kind" "KopfPeering" "metadata" $meta)) -}}
{{- end -}}
{{- else -}}
{{- $meta := dict "name" $name "labels" $labels -}}
{{- $objs = append $objs (dict "path" (printf "/apis/kopf.dev/v1/clusterkopfpeerings/%s" $name) "manifest" (dict "apiVersion" "kopf.dev/v1" "kind" "ClusterKopfPeering" "metadata" $meta)) -}}
{{- end -}}
{{- if include "vectorops.createStore" . -}}
{{- $ns := include "vectorops.storeNamespace" . -}}
{{- $spec := required "defaultStore.spec (at least qdrant.url) is required when defaultStore.create is true" .Values.defaultStore.spec -}}
{{- $meta := dict "name" .Values.defaultStore.name "namespace" $ns "labels" $labels -}}
{{- $objs = append $objs (dict "path" (printf "/apis/vectorops.io/v1alpha1/namespaces/%s/vectorstores/%s" $ns .Values.defaultStore.name) "manifest" (dict "apiVersion" "vectorops.io/v1alpha1" "kind" "VectorStore" "metadata" $meta "spec" $spec)) -}}
{{- end -}}
{{- toJson $objs -}}
{{- end -}}

{{/* The default VectorStore is created (defaultStore.create with a name). */}}
{{- define "vectorops.createStore" -}}
{{- if and .Values.defaultStore.create .Values.defaultStore.name -}}
{{- if and (include "vectorops.namespaced" .) (not (has (include "vectorops.storeNamespace" .) .Values.rbac.namespaces)) -}}
{{- fail "defaultStore.namespace must be one of rbac.namespaces: the operator watches only those" -}}
{{- end -}}
true
{{- end -}}
{{- end -}}

{{- define "vectorops.storeNamespace" -}}
{{- default .Release.Namespace .Values.defaultStore.namespace -}}
{{- end -}}
