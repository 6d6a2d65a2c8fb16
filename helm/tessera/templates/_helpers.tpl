{{/* The registry of the platform's services (services.yaml): who they are, whom they call, what they use. It is
     the one place the topology is written; values.yaml's `services` only tunes how each one is deployed. */}}
{{- define "tessera.registry" -}}
{{- $registry := (.Files.Get "services.yaml" | fromYaml).services | default dict -}}
{{- range $name, $overrides := .Values.services -}}
{{- if not (hasKey $registry $name) -}}
{{- fail (printf "services.%s: no such service in services.yaml (%s)" $name (keys $registry | sortAlpha | join ", ")) -}}
{{- end -}}
{{- range $key := list "calls" "stores" "grpcApi" "http" "platformView" "panels" -}}
{{- if hasKey ($overrides | default dict) $key -}}
{{- fail (printf "services.%s.%s: the topology is declared in services.yaml, not in values" $name $key) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- toJson $registry -}}
{{- end -}}

{{/* The services' names, sorted: range over `include "tessera.services" $ | fromJsonArray`. */}}
{{- define "tessera.services" -}}
{{- include "tessera.registry" . | fromJson | keys | sortAlpha | toJson -}}
{{- end -}}

{{/* A service's settings: serviceDefaults, its registry entry, then its block in .Values.services. (list $ name) */}}
{{- define "tessera.config" -}}
{{- $root := index . 0 -}}
{{- $name := index . 1 -}}
{{- $registry := include "tessera.registry" $root | fromJson -}}
{{- $entry := index $registry $name -}}
{{- $config := deepCopy $root.Values.serviceDefaults -}}
{{- $uses := dict -}}
{{- range $store := $entry.stores | default list -}}
{{- $_ := set $uses $store true -}}
{{- end -}}
{{- $_ := set $config "uses" $uses -}}
{{- $_ := set $config "calls" ($entry.calls | default list) -}}
{{- $_ := set $config "platformView" ($entry.platformView | default false) -}}
{{- if $entry.http -}}
{{- $_ := set $config "http" (dict "port" $root.Values.serviceDefaults.httpPort) -}}
{{- end -}}
{{- $config = mergeOverwrite $config (deepCopy (index $root.Values.services $name | default dict)) -}}
{{- /* Its callers: the services whose `calls` name it. Who calls whom is written once, as `calls`. */ -}}
{{- $callers := list -}}
{{- range $other, $svc := $registry -}}
{{- if has $name ($svc.calls | default list) -}}
{{- $callers = append $callers $other -}}
{{- end -}}
{{- end -}}
{{- $_ := set $config "callers" $callers -}}
{{- /* Its viewers: services with the platform view that do not call it, which may ask it for its dependencies'
     health only (ops.v1.DependencyHealthService). */ -}}
{{- $viewers := list -}}
{{- range $other, $svc := $registry -}}
{{- if and $svc.platformView (ne $other $name) (not (has $other $callers)) -}}
{{- $viewers = append $viewers $other -}}
{{- end -}}
{{- end -}}
{{- $_ := set $config "viewers" $viewers -}}
{{- toYaml $config -}}
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
app.kubernetes.io/component: {{ index . 1 }}
app.kubernetes.io/part-of: tessera
app.kubernetes.io/managed-by: {{ (index . 0).Release.Service }}
helm.sh/chart: {{ printf "%s-%s" (index . 0).Chart.Name (index . 0).Chart.Version }}
{{- end -}}

{{/* Whether Flagger drives this service's releases (then it owns the traffic split and the canary pods). */}}
{{- define "tessera.flagged" -}}
{{- $root := index . 0 -}}
{{- if and $root.Values.flagger.enabled (has (index . 1) (include "tessera.flaggerServices" $root | fromJsonArray)) -}}true{{- end -}}
{{- end -}}

{{/* The pods of a service, for its Services, disruption budget and policies. Under Flagger they are its primary
     copy and the canary: Flagger renames the primary's app.kubernetes.io/name (<name>-primary), not its component,
     so the chart's Services keep reaching both and the canary takes a share of real traffic. (list $ name) */}}
{{- define "tessera.pods" -}}
{{- if include "tessera.flagged" . -}}
app.kubernetes.io/component: {{ index . 1 }}
app.kubernetes.io/instance: {{ (index . 0).Release.Name }}
{{- else -}}
{{ include "tessera.selector" . }}
{{- end -}}
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

{{/* The tag a pod runs: the canary's own, else image.tag, else the chart's appVersion. (list $ canaryTag) */}}
{{- define "tessera.imageTag" -}}
{{- $root := index . 0 -}}
{{- index . 1 | default $root.Values.image.tag | default $root.Chart.AppVersion -}}
{{- end -}}

{{- define "tessera.image" -}}
{{- $root := index . 0 -}}
{{ $root.Values.image.registry }}/{{ index . 1 }}:{{ include "tessera.imageTag" (list $root (index . 2)) }}
{{- end -}}

{{/* A service's settings (its ConfigMap's data). The Deployment hashes it, so a settings change rolls that
     service's pods, and nothing else does: the feature flags live in their own ConfigMap, which the services
     re-read at run time without a restart. Call with (list $root name). */}}
{{- define "tessera.settings" -}}
{{- $root := index . 0 -}}
{{- $name := index . 1 -}}
{{- $svc := include "tessera.config" (list $root $name) | fromYaml -}}
TESSERA_SERVICE_NAME: {{ $name | quote }}
TESSERA_ENVIRONMENT: {{ $root.Values.environment | quote }}
TESSERA_LOG_LEVEL: {{ $root.Values.logLevel | quote }}
TESSERA_GRPC_HOST: "0.0.0.0"
TESSERA_GRPC_PORT: {{ $svc.grpcPort | quote }}
TESSERA_METRICS_PORT: {{ $svc.metricsPort | quote }}
TESSERA_FLAGS_FILE: /etc/tessera/flags/flags.json
{{- with $root.Values.tracing.otlpEndpoint }}
TESSERA_OTLP_ENDPOINT: {{ . | quote }}
{{- end }}
TESSERA_TRACE_SAMPLE_RATIO: {{ $root.Values.tracing.sampleRatio | toString | quote }}
{{- if $svc.faultPercent }}
TESSERA_FAULT_PERCENT: {{ $svc.faultPercent | quote }}
{{- end }}
{{- if $svc.http }}
TESSERA_HTTP_HOST: "0.0.0.0"
TESSERA_HTTP_PORT: {{ $svc.http.port | quote }}
{{- $auth := $root.Values.auth }}
TESSERA_AUTH_ISSUER: {{ required "auth.issuer: the issuer of the API's tokens" $auth.issuer | quote }}
TESSERA_AUTH_AUDIENCE: {{ $auth.audience | quote }}
{{- if $auth.jwks }}
TESSERA_AUTH_JWKS: {{ toJson $auth.jwks | quote }}
{{- else }}
TESSERA_AUTH_JWKS_URL: {{ required "auth.jwks or auth.jwksUri: the issuer's public keys" $auth.jwksUri | quote }}
{{- end }}
TESSERA_RATE_LIMIT: {{ $auth.rateLimit | quote }}
{{- end }}
{{- if $svc.uses.redis }}
TESSERA_REDIS_URL: {{ $root.Values.infrastructure.redis.url | quote }}
{{- end }}
{{- if $svc.uses.kafka }}
TESSERA_KAFKA_BOOTSTRAP: {{ $root.Values.infrastructure.kafka.bootstrap | quote }}
TESSERA_KAFKA_PARTITIONS: {{ $root.Values.infrastructure.kafka.partitions | quote }}
TESSERA_KAFKA_REPLICATION: {{ $root.Values.infrastructure.kafka.replication | quote }}
TESSERA_KAFKA_TOPIC_PREFIX: {{ $root.Values.infrastructure.kafka.topicPrefix | quote }}
{{- end }}
{{- /* The addresses of the services it reaches (topology.Registry.targets): those it calls, and with the
     platform view every other one too. */}}
{{- $targets := dict }}
{{- range $other := include "tessera.services" $root | fromJsonArray }}
{{- if or (has $other $svc.calls) (and $svc.platformView (ne $other $name)) }}
{{- $_ := set $targets $other (include "tessera.target" (list $root $other)) }}
{{- end }}
{{- end }}
{{- if $targets }}
TESSERA_TARGETS: {{ toJson $targets | quote }}
{{- end }}
{{- end -}}

{{/* The services Flagger releases: flagger.services, else every service that answers requests (a gRPC API or
     HTTP), since traffic is what a canary's analysis weighs. */}}
{{- define "tessera.flaggerServices" -}}
{{- $chosen := .Values.flagger.services | default list -}}
{{- if not $chosen -}}
{{- range $name, $entry := include "tessera.registry" . | fromJson -}}
{{- if or $entry.grpcApi $entry.http -}}
{{- $chosen = append $chosen $name -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- toJson $chosen -}}
{{- end -}}
