{{/*
Names, labels and the values derived from several keys (Redis wiring, ring size, allowed hosts).
*/}}

{{/* The chart name, or nameOverride. */}}
{{- define "podscope.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The name of cluster-scoped objects (ClusterRole, its binding): <namespace>-<fullname>, so
that releases of the same name in different namespaces get their own. */}}
{{- define "podscope.clusterScopedName" -}}
{{- printf "%s-%s" .Release.Namespace (include "podscope.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The object name prefix: fullnameOverride, else <release>-<name> (just <release> when it
already contains the name). Kept to 50 characters so that suffixes such as "-worker" fit. */}}
{{- define "podscope.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- $name := include "podscope.name" . -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Labels on every object. */}}
{{- define "podscope.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "podscope.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* Selector labels of one component: call with (dict "root" $ "component" "hub"). */}}
{{- define "podscope.selectorLabels" -}}
app.kubernetes.io/name: {{ include "podscope.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* The podscope image reference. */}}
{{- define "podscope.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}

{{/* The hub's ServiceAccount name. */}}
{{- define "podscope.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "podscope.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* Names of the chart-made Secrets. */}}
{{- define "podscope.hubSecretName" -}}
{{- .Values.hub.existingSecret | default (printf "%s-hub" (include "podscope.fullname" .)) -}}
{{- end -}}
{{- define "podscope.adminSecretName" -}}
{{- .Values.auth.adminSecret | default (printf "%s-admin" (include "podscope.fullname" .)) -}}
{{- end -}}
{{- define "podscope.writeTokenSecretName" -}}
{{- .Values.hub.writeToken.existingSecret | default (printf "%s-write-token" (include "podscope.fullname" .)) -}}
{{- end -}}
{{- define "podscope.writeTokenKey" -}}
{{- ternary .Values.hub.writeToken.existingSecretKey "token" (ne .Values.hub.writeToken.existingSecret "") -}}
{{- end -}}
{{- define "podscope.metricsTokenSecretName" -}}
{{- .Values.metrics.token.existingSecret | default (printf "%s-metrics-token" (include "podscope.fullname" .)) -}}
{{- end -}}
{{- define "podscope.metricsTokenKey" -}}
{{- ternary .Values.metrics.token.existingSecretKey "token" (ne .Values.metrics.token.existingSecret "") -}}
{{- end -}}
{{- define "podscope.redisName" -}}
{{- printf "%s-redis" (include "podscope.fullname" .) -}}
{{- end -}}

{{/* A value of a chart-made Secret that stays the same across upgrades: the one already in the
cluster when there is one (lookup), else a new random one. Call with
(dict "root" $ "secret" NAME "key" KEY "length" N); returns it base64-encoded. */}}
{{- define "podscope.stableRandom" -}}
{{- $existing := lookup "v1" "Secret" .root.Release.Namespace .secret -}}
{{- dig "data" .key "" $existing | default (randAlphaNum (int .length) | b64enc) -}}
{{- end -}}

{{/* Escape "$" for Kubernetes' $(VAR) expansion in env values and args ("$$" stands for "$"),
so user text such as a pod regex ending in "$" reaches the process unchanged. */}}
{{- define "podscope.escapeVars" -}}
{{- . | replace "$" "$$" -}}
{{- end -}}

{{/* The Secret (name and key) holding the Redis password, as a dict; empty when there is none. */}}
{{- define "podscope.redisPasswordRef" -}}
{{- if .Values.redis.enabled -}}
{{- if .Values.redis.auth.enabled -}}
{{- if .Values.redis.auth.existingSecret -}}
{{- dict "name" .Values.redis.auth.existingSecret "key" .Values.redis.auth.existingSecretKey | toJson -}}
{{- else -}}
{{- dict "name" (include "podscope.redisName" .) "key" "redis-password" | toJson -}}
{{- end -}}
{{- else -}}
{{- dict | toJson -}}
{{- end -}}
{{- else if .Values.redis.external.passwordSecret.name -}}
{{- dict "name" .Values.redis.external.passwordSecret.name "key" .Values.redis.external.passwordSecret.key | toJson -}}
{{- else -}}
{{- dict | toJson -}}
{{- end -}}
{{- end -}}

{{/* The Redis URL the hub and workers use. A password is never written here: it is the
placeholder $(REDIS_PASSWORD), which Kubernetes fills in from the Secret (env var expansion). */}}
{{- define "podscope.redisUrl" -}}
{{- $password := include "podscope.redisPasswordRef" . | fromJson -}}
{{- if .Values.redis.enabled -}}
{{- $host := printf "%s.%s.svc:6379" (include "podscope.redisName" .) .Release.Namespace -}}
{{- if $password -}}
{{- printf "redis://:$(REDIS_PASSWORD)@%s/0" $host -}}
{{- else -}}
{{- printf "redis://%s/0" $host -}}
{{- end -}}
{{- else -}}
{{- $url := .Values.redis.external.url -}}
{{- if not $password -}}
{{- $url -}}
{{- else if regexMatch "^rediss?://[^/@]+@" $url -}}
{{- regexReplaceAll "^(rediss?://[^/@]+)@" $url "${1}:$$(REDIS_PASSWORD)@" -}}
{{- else -}}
{{- regexReplaceAll "^(rediss?://)" $url "${1}:$$(REDIS_PASSWORD)@" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The env entries giving REDIS_URL (REDIS_PASSWORD first, so that $(REDIS_PASSWORD) expands). */}}
{{- define "podscope.redisEnv" -}}
{{- $password := include "podscope.redisPasswordRef" . | fromJson -}}
{{- if $password -}}
- name: REDIS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $password.name }}
      key: {{ $password.key }}
{{ end -}}
- name: REDIS_URL
  value: {{ include "podscope.redisUrl" . | quote }}
{{- end -}}

{{/* Bytes in a Kubernetes quantity of the form digits + optional Ki/Mi/Gi/Ti or k/M/G/T (the
form values.schema.json allows for tap.storageLimit). */}}
{{- define "podscope.quantityBytes" -}}
{{- $digits := regexFind "^[0-9]+" . -}}
{{- $suffix := trimPrefix $digits . -}}
{{- $units := dict "" 1 "k" 1000 "M" 1000000 "G" 1000000000 "T" 1000000000000 "Ki" 1024 "Mi" 1048576 "Gi" 1073741824 "Ti" 1099511627776 -}}
{{- if not (hasKey $units $suffix) -}}
{{- fail (printf "tap.storageLimit %q: expected digits and an optional Ki, Mi, Gi, Ti, k, M, G or T suffix" .) -}}
{{- end -}}
{{- mul ($digits | int64) (get $units $suffix) -}}
{{- end -}}

{{/* The full-mode pcap ring cap: 80% of tap.storageLimit. The ring may exceed its cap by the
file being written (an eighth of the cap), which still fits under the volume's size limit. */}}
{{- define "podscope.ringBytes" -}}
{{- div (mul (include "podscope.quantityBytes" .Values.tap.storageLimit | int64) 8) 10 -}}
{{- end -}}

{{/* The host names the hub answers to: local names, its pod IP, the Service's names, the ingress
hosts and hub.allowedHosts, comma-joined for PODSCOPE_ALLOWED_HOSTS. */}}
{{- define "podscope.allowedHosts" -}}
{{- $service := include "podscope.fullname" . -}}
{{- $namespace := .Release.Namespace -}}
{{- $hosts := list "localhost" "127.0.0.1" "[::1]" "$(POD_IP)" $service (printf "%s.%s" $service $namespace) (printf "%s.%s.svc" $service $namespace) (printf "%s.%s.svc.cluster.local" $service $namespace) -}}
{{- if .Values.ingress.enabled -}}
{{- $hosts = concat $hosts .Values.ingress.hosts -}}
{{- end -}}
{{- $extra := list -}}
{{- if and (has .Values.hub.service.type (list "NodePort" "LoadBalancer")) (not .Values.hub.allowedHosts) -}}
{{- /* Reached on node or load-balancer addresses the chart cannot know: any Host. */ -}}
{{- $extra = append $extra "*" -}}
{{- end -}}
{{- range .Values.hub.allowedHosts -}}
{{- $extra = append $extra (include "podscope.escapeVars" .) -}}
{{- end -}}
{{- concat $hosts $extra | uniq | join "," -}}
{{- end -}}

{{/* The origins a login form may be posted from: https:// and http:// of each ingress host. */}}
{{- define "podscope.csrfTrustedOrigins" -}}
{{- $origins := list -}}
{{- if .Values.ingress.enabled -}}
{{- range .Values.ingress.hosts -}}
{{- $origins = append $origins (printf "https://%s" .) -}}
{{- $origins = append $origins (printf "http://%s" .) -}}
{{- end -}}
{{- end -}}
{{- join "," $origins -}}
{{- end -}}

{{/* Fail early, with the value to change, on settings that would render but not work. */}}
{{- define "podscope.validate" -}}
{{- if and .Values.redis.enabled .Values.redis.external.url -}}
{{- fail "redis.external.url is set but redis.enabled is true: set redis.enabled=false to use the external Redis" -}}
{{- end -}}
{{- if and (not .Values.redis.enabled) (not .Values.redis.external.url) -}}
{{- fail "redis.enabled is false: set redis.external.url (e.g. redis://redis.example:6379/0)" -}}
{{- end -}}
{{- if and .Values.networkPolicy.hub.from (not .Values.networkPolicy.enabled) -}}
{{- fail "networkPolicy.hub.from is set but networkPolicy.enabled is false: set networkPolicy.enabled=true (with networkPolicy.nodeCidrs) for the peers to be the hub's only clients" -}}
{{- end -}}
{{- if regexMatch "^rediss?://[^/@]*:[^/@]*@" .Values.redis.external.url -}}
{{- fail "redis.external.url must not carry a password: put it in a Secret named by redis.external.passwordSecret" -}}
{{- end -}}
{{- if and (eq .Values.tap.mode "connections") (eq (without .Values.tap.enabledDissectors "tcp" "icmp" "dns" | len) (len .Values.tap.enabledDissectors)) -}}
{{- fail "tap.enabledDissectors: in connections mode udp alone captures nothing (only DNS is UDP there): add tcp, dns or icmp, or set tap.mode=full" -}}
{{- end -}}
{{- if lt (include "podscope.quantityBytes" .Values.tap.storageLimit | int64) 1048576 -}}
{{- fail (printf "tap.storageLimit %q: at least 1Mi is needed" .Values.tap.storageLimit) -}}
{{- end -}}
{{- end -}}

{{/* Env of the hub and its admin init container: the Django secret key, the login database
in the writable state volume, a writable HOME. */}}
{{- define "podscope.hubStateEnv" -}}
- name: PODSCOPE_SECRET_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "podscope.hubSecretName" . }}
      key: secret-key
- name: PODSCOPE_DB
  value: /var/lib/podscope/db.sqlite3
- name: HOME
  value: /tmp
{{- end -}}

{{/* Volume mounts of the hub and its admin init container. */}}
{{- define "podscope.hubVolumeMounts" -}}
- name: state
  mountPath: /var/lib/podscope
- name: tmp
  mountPath: /tmp
{{- end -}}

{{/* Security context of the hub's containers: non-root, read-only root, no capabilities. */}}
{{- define "podscope.hubContainerSecurityContext" -}}
runAsNonRoot: true
privileged: false
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: ["ALL"]
{{- end -}}

{{/* GET /healthz on the http port. The Host header is one the hub always allows (the kubelet
would otherwise send the pod IP, which Django checks against PODSCOPE_ALLOWED_HOSTS). */}}
{{- /* The hub's probe of the path given as the context: /healthz (readiness) or /livez. */ -}}
{{- define "podscope.healthProbe" -}}
httpGet:
  path: {{ . }}
  port: http
  httpHeaders:
    - name: Host
      value: localhost
timeoutSeconds: 3
{{- end -}}

{{/* Bytes the hub needs for hub.storeSize entries: 160Mi + 3.6KiB per entry (measured: about
507Mi at 100k entries, over 1Gi at 250k). */}}
{{- define "podscope.hubMemoryEstimate" -}}
{{- add 167772160 (mul (int64 .Values.hub.storeSize) 3686) -}}
{{- end -}}

{{/* hub.resources with the memory request and limit derived from hub.storeSize where they are
left out; a memory limit below the estimate fails the render. */}}
{{- define "podscope.hubResources" -}}
{{- $resources := deepCopy .Values.hub.resources -}}
{{- $estimate := include "podscope.hubMemoryEstimate" . | int64 -}}
{{- $requests := get $resources "requests" | default dict -}}
{{- $limits := get $resources "limits" | default dict -}}
{{- if not (hasKey $requests "memory") -}}
{{- $_ := set $requests "memory" (printf "%dMi" (div $estimate 1048576)) -}}
{{- end -}}
{{- if hasKey $limits "memory" -}}
{{- if lt (include "podscope.quantityBytes" (get $limits "memory") | int64) $estimate -}}
{{- fail (printf "hub.resources.limits.memory %s is below the about %dMi that hub.storeSize %d needs: raise the limit, lower hub.storeSize, or leave the limit out (derived)" (get $limits "memory") (div $estimate 1048576) (int64 .Values.hub.storeSize)) -}}
{{- end -}}
{{- else -}}
{{- $_ := set $limits "memory" (printf "%dMi" (div (mul $estimate 3) 2097152)) -}}
{{- end -}}
{{- $_ := set $resources "requests" $requests -}}
{{- $_ := set $resources "limits" $limits -}}
{{- toYaml $resources -}}
{{- end -}}
