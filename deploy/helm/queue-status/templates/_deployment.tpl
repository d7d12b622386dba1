{{/*
One role's Deployment: (dict "root" . "component" "api"|"ingest" "spec" .Values.<role>).
Both roles run the same image and settings; `--role` decides what the process does.
*/}}
{{- define "queue-status.deployment" -}}
{{- $root := .root -}}
{{- $secret := required "secrets.existingSecret: name the Secret holding API_TOKENS, AMI_SECRET, DATABASE_URL, ALERT_WEBHOOK_URLS, METRICS_TOKEN" $root.Values.secrets.existingSecret -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "queue-status.fullname" $root }}-{{ .component }}
  labels:
    {{- include "queue-status.labels" $root | nindent 4 }}
    app.kubernetes.io/component: {{ .component }}
spec:
  replicas: {{ .spec.replicas }}
  selector:
    matchLabels:
      {{- include "queue-status.selectorLabels" . | nindent 6 }}
  strategy:
    type: RollingUpdate
    rollingUpdate:
      # The new pod is ready before an old one goes: an api replica is always serving,
      # an ingest standby always there to take the lease.
      maxUnavailable: 0
      maxSurge: 1
  template:
    metadata:
      labels:
        {{- include "queue-status.selectorLabels" . | nindent 8 }}
      annotations:
        prometheus.io/port: {{ $root.Values.port | quote }}
        {{- with $root.Values.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      {{- with $root.Values.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      securityContext:
        {{- toYaml $root.Values.podSecurityContext | nindent 8 }}
      # A leader that stops releases its lease; the uvicorn shutdown waits 5 s.
      terminationGracePeriodSeconds: 20
      containers:
        - name: queue-status
          image: "{{ $root.Values.image.repository }}:{{ $root.Values.image.tag | default $root.Chart.AppVersion }}"
          imagePullPolicy: {{ $root.Values.image.pullPolicy }}
          args: ["queue-status", "serve", "--role", {{ .component | quote }}]
          ports:
            - name: http
              containerPort: {{ $root.Values.port }}
          env:
            # Every interface of the pod: what reaches it is decided by the Service.
            - name: HOST
              value: "0.0.0.0"
            - name: PORT
              value: {{ $root.Values.port | quote }}
            {{- range $name, $value := $root.Values.env }}
            - name: {{ $name }}
              value: {{ $value | quote }}
            {{- end }}
            {{- range $root.Values.secrets.keys }}
            {{- if or (eq $.component "api") (ne . "API_TOKENS") }}
            - name: {{ . }}
              valueFrom:
                secretKeyRef:
                  name: {{ $secret }}
                  key: {{ . }}
                  optional: true
            {{- end }}
            {{- end }}
          readinessProbe:
            # 200 while Redis is reachable, 503 (out of the Service) while it is not.
            httpGet:
              path: {{ $root.Values.probes.readiness.path }}
              port: http
              httpHeaders:
                - name: Host
                  value: localhost
            periodSeconds: {{ $root.Values.probes.readiness.periodSeconds }}
            timeoutSeconds: {{ $root.Values.probes.readiness.timeoutSeconds }}
            failureThreshold: {{ $root.Values.probes.readiness.failureThreshold }}
          livenessProbe:
            # The event loop answers: GET /metrics (in memory), with METRICS_TOKEN if set.
            exec:
              command:
                - python
                - -c
                - >-
                  import os, urllib.request as r;
                  q = r.Request("http://127.0.0.1:" + os.environ["PORT"] + {{ $root.Values.probes.liveness.path | quote }});
                  t = os.environ.get("METRICS_TOKEN");
                  t and q.add_header("Authorization", "Bearer " + t);
                  r.urlopen(q, timeout={{ $root.Values.probes.liveness.timeoutSeconds }} - 1)
            initialDelaySeconds: {{ $root.Values.probes.liveness.initialDelaySeconds }}
            periodSeconds: {{ $root.Values.probes.liveness.periodSeconds }}
            timeoutSeconds: {{ $root.Values.probes.liveness.timeoutSeconds }}
            failureThreshold: {{ $root.Values.probes.liveness.failureThreshold }}
          securityContext:
            {{- toYaml $root.Values.securityContext | nindent 12 }}
          {{- with .spec.resources }}
          resources:
            {{- toYaml . | nindent 12 }}
          {{- end }}
      {{- with .spec.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with .spec.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with .spec.affinity }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- end }}
{{- end -}}

{{/* One role's PodDisruptionBudget: a drain never takes every pod of a role at once. */}}
{{- define "queue-status.pdb" -}}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "queue-status.fullname" .root }}-{{ .component }}
  labels:
    {{- include "queue-status.labels" .root | nindent 4 }}
    app.kubernetes.io/component: {{ .component }}
spec:
  minAvailable: {{ .spec.podDisruptionBudget.minAvailable }}
  selector:
    matchLabels:
      {{- include "queue-status.selectorLabels" . | nindent 6 }}
{{- end -}}
