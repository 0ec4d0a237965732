{{- define "podvisor.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "podvisor.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "podvisor.selectorLabels" -}}
app.kubernetes.io/name: {{ include "podvisor.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "podvisor.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "podvisor.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: {{ include "podvisor.name" . }}
{{- end -}}

{{- define "podvisor.podvisorImage" -}}
{{- printf "%s:%s" .Values.podvisorImage.repository (default .Chart.AppVersion (toString .Values.podvisorImage.tag)) -}}
{{- end -}}

{{/* "true" when the sidecar is a native one (an init container with
     restartPolicy: Always): asked for, or auto on a cluster of 1.29 or
     later, where native sidecars are on by default. */}}
{{- define "podvisor.nativeSidecar" -}}
{{- $n := .Values.sidecar.native -}}
{{- if eq (toString $n) "auto" -}}
{{- semverCompare ">=1.29-0" .Capabilities.KubeVersion.Version | toString -}}
{{- else -}}
{{- toString $n -}}
{{- end -}}
{{- end -}}

{{- define "podvisor.serviceAccountName" -}}
{{- if or .Values.serviceAccount.create (and .Values.drainEndpoints.enabled (not .Values.serviceAccount.name)) -}}
{{- default (include "podvisor.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "podvisor.appImage" -}}
{{- /* toString: a tag written as a number (2, 1.25) is its text. */ -}}
{{- if not (eq (toString .Values.app.image.tag) "") -}}
{{- printf "%s:%s" .Values.app.image.repository (toString .Values.app.image.tag) -}}
{{- else -}}
{{- .Values.app.image.repository -}}
{{- end -}}
{{- end -}}

{{/* The config watch, shared by the app's podvisor and the sidecar. */}}
{{- define "podvisor.watchArgs" -}}
{{- $c := .Values.config -}}
{{- $a := list -}}
{{- if and $c.enabled (eq $c.onChange "reload") -}}
{{- $a = concat $a (list "--watch" $c.mountPath "--on-change" $c.action "--debounce" $c.debounce) -}}
{{- if $c.validate -}}
{{- $a = concat $a (list "--validate" $c.validate) -}}
{{- end -}}
{{- end -}}
{{- toJson $a -}}
{{- end -}}

{{/* podvisor's command line in the app container (modes image, injected). */}}
{{- define "podvisor.appCommand" -}}
{{- $p := .Values.podvisor -}}
{{- $bin := ternary "/podvisor/podvisor" $p.path (eq .Values.mode "injected") -}}
{{- $a := list $bin
      "--probe-listen" (printf ":%v" $p.probePort)
      "--grace-period" (printf "%vs" .Values.terminationGracePeriodSeconds)
      "--prestop-delay" $p.prestopDelay
      "--stop-signal" (toString $p.stopSignal) -}}
{{- with $p.imageStopSignal -}}
{{- if ne (toString .) "TERM" -}}
{{- $a = concat $a (list "--rewrite" (printf "%s:TERM" (toString .))) -}}
{{- end -}}
{{- end -}}
{{- if $p.stopTimeout -}}
{{- $a = concat $a (list "--stop-timeout" $p.stopTimeout) -}}
{{- end -}}
{{- if $p.processGroup -}}
{{- $a = append $a "-g" -}}
{{- end -}}
{{- $a = concat $a (list "--log-format" $p.logFormat "--log-level" $p.logLevel "--restart-policy" $p.restartPolicy) -}}
{{- if ne $p.restartPolicy "never" -}}
{{- $a = concat $a (list "--backoff-initial" $p.backoffInitial "--backoff-max" $p.backoffMax) -}}
{{- end -}}
{{- range $p.readyChecks }}{{ $a = concat $a (list "--ready-check" .) }}{{ end -}}
{{- range $p.liveChecks }}{{ $a = concat $a (list "--live-check" .) }}{{ end -}}
{{- if $p.notify -}}
{{- $a = append $a "--notify" -}}
{{- end -}}
{{- if $p.watchdog -}}
{{- $a = concat $a (list "--watchdog" $p.watchdog) -}}
{{- end -}}
{{- range $p.sockets }}{{ $a = concat $a (list "--socket" .) }}{{ end -}}
{{- with .Values.drainEndpoints -}}
{{- if .enabled -}}
{{- $a = concat $a (list "--drain-endpoints" "--drain-settle" .settle "--drain-min" .min) -}}
{{- end -}}
{{- end -}}
{{- if ne $p.restartMode "stop-first" -}}
{{- $a = concat $a (list "--restart-mode" $p.restartMode) -}}
{{- end -}}
{{- if $p.readyTimeout -}}
{{- $a = concat $a (list "--ready-timeout" $p.readyTimeout) -}}
{{- end -}}
{{- if $p.pidFile -}}
{{- $a = concat $a (list "--pid-file" $p.pidFile) -}}
{{- end -}}
{{- if or $p.readyChecks $p.liveChecks -}}
{{- $a = concat $a (list "--check-interval" $p.checkInterval "--check-timeout" $p.checkTimeout "--failure-threshold" (toString $p.failureThreshold)) -}}
{{- end -}}
{{- $a = concat $a (include "podvisor.watchArgs" . | fromJsonArray) $p.extraArgs (list "--") .Values.app.command .Values.app.args -}}
{{- toJson $a -}}
{{- end -}}

{{/* podvisor alone in the sidecar: no child, it watches and reloads. */}}
{{- define "podvisor.sidecarArgs" -}}
{{- $p := .Values.podvisor -}}
{{- $a := list "--probe-listen" (printf ":%v" $p.sidecarProbePort) "--log-format" $p.logFormat "--log-level" $p.logLevel -}}
{{- $a = concat $a (include "podvisor.watchArgs" . | fromJsonArray) -}}
{{- if .Values.config.signalProcess -}}
{{- $a = concat $a (list "--signal-process" .Values.config.signalProcess) -}}
{{- end -}}
{{- $a = concat $a $p.extraArgs -}}
{{- toJson $a -}}
{{- end -}}

{{- define "podvisor.probes" -}}
{{- $port := .port -}}
{{- $pr := .probes -}}
{{- range $kind, $path := dict "liveness" "/livez" "readiness" "/readyz" "startup" "/startupz" }}
{{- $v := index $pr $kind }}
{{- if $v.enabled }}
{{ $kind }}Probe:
  httpGet:
    path: {{ $path }}
    port: {{ $port }}
  periodSeconds: {{ $v.periodSeconds }}
  timeoutSeconds: {{ $v.timeoutSeconds }}
  failureThreshold: {{ $v.failureThreshold }}
{{- end }}
{{- end }}
{{- end -}}

{{/* Checks no schema can express: they span several values. */}}
{{- define "podvisor.validate" -}}
{{- $m := .Values.mode -}}
{{- if and (ne $m "sidecar") (not .Values.app.command) -}}
{{- fail (printf "app.command is empty: mode %s runs the app under podvisor, and Kubernetes cannot read the image's ENTRYPOINT (give it, e.g. [nginx, -g, daemon off;])" $m) -}}
{{- end -}}
{{- $p := .Values.podvisor -}}
{{- if and (eq $p.restartMode "start-first") (not (has "notify" $p.readyChecks)) -}}
{{- fail "podvisor.restartMode start-first needs podvisor.readyChecks [\"notify\"]: the new generation is promoted when it says READY=1 over sd_notify (with held sockets, an HTTP or TCP check cannot tell which generation answered)" -}}
{{- end -}}
{{- if eq $m "sidecar" -}}
{{- if .Values.drainEndpoints.enabled -}}
{{- fail "drainEndpoints shortens the app's prestop wait: the app must be podvisor's child (modes image and injected, not sidecar)" -}}
{{- end -}}
{{- if or $p.sockets $p.pidFile (eq $p.restartMode "start-first") -}}
{{- fail "podvisor.sockets, podvisor.pidFile and podvisor.restartMode start-first need the app to be podvisor's child: modes image and injected, not sidecar" -}}
{{- end -}}
{{- if not (and .Values.config.enabled (eq .Values.config.onChange "reload")) -}}
{{- fail "mode sidecar watches the ConfigMap: it needs config.enabled: true and config.onChange: reload" -}}
{{- end -}}
{{- if eq .Values.config.action "restart" -}}
{{- fail "mode sidecar cannot restart the app (it is not podvisor's child): use config.action signal:SIG with config.signalProcess, webhook:URL or exec:CMD" -}}
{{- end -}}
{{- if and (hasPrefix "signal:" .Values.config.action) (not .Values.config.signalProcess) -}}
{{- fail "mode sidecar with a signal: action needs config.signalProcess (the app's executable name)" -}}
{{- end -}}
{{- if .Values.config.validate -}}
{{- fail "config.validate cannot run in mode sidecar: it runs where podvisor runs, and the sidecar's image holds podvisor alone, none of the app's binaries or files. Use mode injected (podvisor in the app's container validates with the app's own files) or drop config.validate" -}}
{{- end -}}
{{- if eq (int .Values.podvisor.probePort) (int .Values.podvisor.sidecarProbePort) -}}
{{- fail "podvisor.probePort and podvisor.sidecarProbePort are equal: the containers of a pod share one network namespace" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The sidecar container (sidecar mode), native or not. */}}
{{- define "podvisor.sidecarContainer" -}}
- name: podvisor
  image: {{ include "podvisor.podvisorImage" . }}
  imagePullPolicy: {{ .Values.podvisorImage.pullPolicy }}
  args:
    {{- include "podvisor.sidecarArgs" . | fromJsonArray | toYaml | nindent 4 }}
  ports:
    - name: podvisor
      containerPort: {{ .Values.podvisor.sidecarProbePort }}
  {{- include "podvisor.probes" (dict "port" "podvisor" "probes" .Values.probes) | trim | nindent 2 }}
  securityContext:
    {{- toYaml .Values.securityContext | nindent 4 }}
  resources:
    requests: {cpu: 10m, memory: 8Mi}
    limits: {memory: 32Mi}
  volumeMounts:
    - name: config
      mountPath: {{ .Values.config.mountPath }}
      readOnly: true
{{- end -}}
