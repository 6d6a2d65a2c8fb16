{{/* A service's settings: serviceDefaults overlaid with its block in .Values.services. Call with (list $ name). */}}
{{- define "tessera.config" -}}
{{- $root := index . 0 -}}
{{- $name := index . 1 -}}
{{- toYaml (mergeOverwrite (deepCopy $root.Values.serviceDefaults) (deepCopy (index $root.Values.services $name))) -}}
{{- end -}}

{{- define "tessera.fullname" -}}
{{- $root := index . 0 -}}
{{- printf "%s-%s" $root.Release.Name (index . 1) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "tessera.selector" -}}
app.kubernetes.io/name: {{ index . 1 }}
app.kubernetes.io/instance: {{ (index . 0).Release.Name }}
{{- end -}}

{{- define "tessera.labels" -}}
{{ include "tessera.selector" . }}
app.kubernetes.io/part-of: tessera
app.kubernetes.io/managed-by: {{ (index . 0).Release.Service }}
helm.sh/chart: {{ printf "%s-%s" (index . 0).Chart.Name (index . 0).Chart.Version }}
{{- end -}}

{{/* Whether Flagger drives this service's releases (then it owns the traffic split and the canary pods). */}}
{{- define "tessera.flagged" -}}
{{- $root := index . 0 -}}
{{- if and $root.Values.flagger.enabled (has (index . 1) $root.Values.flagger.services) -}}true{{- end -}}
{{- end -}}

{{/* The address another service calls: the mesh balances a ClusterIP Service; without a mesh, the kit's
     client balances round robin over the headless Service's pod addresses. */}}
{{- define "tessera.target" -}}
{{- $root := index . 0 -}}
{{- $name := index . 1 -}}
{{- $port := (include "tessera.config" (list $root $name) | fromYaml).grpcPort -}}
{{- if $root.Values.istio.enabled -}}
{{ include "tessera.fullname" (list $root $name) }}:{{ $port }}
{{- else -}}
dns:///{{ include "tessera.fullname" (list $root $name) }}-headless.{{ $root.Release.Namespace }}.svc.cluster.local:{{ $port }}
{{- end -}}
{{- end -}}

{{- define "tessera.image" -}}
{{- $root := index . 0 -}}
{{- $tag := index . 2 | default $root.Values.image.tag | default $root.Chart.AppVersion -}}
{{ $root.Values.image.registry }}/{{ index . 1 }}:{{ $tag }}
{{- end -}}
