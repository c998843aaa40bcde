{{/* Name prefix of every object: the release name, or release-chart. */}}
{{- define "hallmark.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Labels of every object; call with (dict "root" $ "component" "log"). */}}
{{- define "hallmark.labels" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/component: {{ .component }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version }}
{{- with .root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Selector labels; same argument as hallmark.labels. */}}
{{- define "hallmark.selector" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "hallmark.image" -}}
{{- printf "%s/%s:%s" .root.Values.image.registry .name (default .root.Chart.AppVersion .root.Values.image.tag) -}}
{{- end -}}

{{- define "hallmark.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}{{ include "hallmark.fullname" . }}{{- else -}}default{{- end -}}
{{- end -}}

{{/*
A Deployment of one component. Argument: dict with root, component
(log, log-ro, ca), values (the component's block), image, args, configMap,
configKey, replicas, resources and volumes (extra volume+mount pairs as a
list of {name, mountPath, secret, items}).
*/}}
{{- define "hallmark.deployment" -}}
{{- $root := .root -}}
{{- $ctx := dict "root" $root "component" .component -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "hallmark.fullname" $root }}-{{ .component }}
  labels:
    {{- include "hallmark.labels" $ctx | nindent 4 }}
spec:
  replicas: {{ .replicas }}
  revisionHistoryLimit: 5
  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxUnavailable: 0
      maxSurge: 1
  selector:
    matchLabels:
      {{- include "hallmark.selector" $ctx | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "hallmark.selector" $ctx | nindent 8 }}
      annotations:
        # Roll the pods when the configuration changes.
        checksum/config: {{ .configChecksum }}
    spec:
      serviceAccountName: {{ include "hallmark.serviceAccountName" $root }}
      automountServiceAccountToken: false
      enableServiceLinks: false
      {{- with $root.Values.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      securityContext:
        {{- toYaml $root.Values.podSecurityContext | nindent 8 }}
      terminationGracePeriodSeconds: 40
      {{- if .values.topologySpreadConstraints }}
      topologySpreadConstraints:
        - maxSkew: 1
          topologyKey: kubernetes.io/hostname
          whenUnsatisfiable: ScheduleAnyway
          labelSelector:
            matchLabels:
              {{- include "hallmark.selector" $ctx | nindent 14 }}
      {{- end }}
      {{- with .values.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with .values.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with .values.affinity }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      containers:
        - name: {{ .image }}
          image: {{ include "hallmark.image" (dict "root" $root "name" .image) }}
          imagePullPolicy: {{ $root.Values.image.pullPolicy }}
          args: ["--config", "/etc/hallmark/config/{{ .configKey }}"]
          ports:
            - name: http
              containerPort: {{ .values.httpPort }}
              protocol: TCP
            - name: grpc
              containerPort: {{ .values.grpcPort }}
              protocol: TCP
          startupProbe:
            httpGet: {path: /healthz, port: http}
            periodSeconds: 2
            failureThreshold: 60
          readinessProbe:
            httpGet: {path: /healthz, port: http}
            periodSeconds: 5
            timeoutSeconds: 3
            failureThreshold: 2
          # /healthz fails while the database is unreachable: restarting
          # does not help then, so liveness is lenient.
          livenessProbe:
            httpGet: {path: /healthz, port: http}
            periodSeconds: 10
            timeoutSeconds: 5
            failureThreshold: 12
          resources:
            {{- toYaml .resources | nindent 12 }}
          securityContext:
            {{- toYaml $root.Values.securityContext | nindent 12 }}
          volumeMounts:
            - name: config
              mountPath: /etc/hallmark/config
              readOnly: true
            {{- range .volumes }}
            - name: {{ .name }}
              mountPath: {{ .mountPath }}
              readOnly: true
            {{- end }}
      volumes:
        - name: config
          configMap:
            name: {{ .configMap }}
        {{- range .volumes }}
        - name: {{ .name }}
          secret:
            secretName: {{ .secret }}
            defaultMode: 0400
            {{- with .items }}
            items:
              {{- toYaml . | nindent 14 }}
            {{- end }}
        {{- end }}
{{- end -}}

{{/* A Service; argument: dict root, component, values. */}}
{{- define "hallmark.service" -}}
{{- $ctx := dict "root" .root "component" .component -}}
apiVersion: v1
kind: Service
metadata:
  name: {{ include "hallmark.fullname" .root }}-{{ .component }}
  labels:
    {{- include "hallmark.labels" $ctx | nindent 4 }}
  {{- with .values.service.annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  type: {{ .values.service.type }}
  selector:
    {{- include "hallmark.selector" $ctx | nindent 4 }}
  ports:
    - name: http
      port: 80
      targetPort: http
      protocol: TCP
    - name: grpc
      port: {{ .values.grpcPort }}
      targetPort: grpc
      protocol: TCP
      appProtocol: grpc
{{- end -}}

{{/* A PodDisruptionBudget; argument: dict root, component, pdb. */}}
{{- define "hallmark.pdb" -}}
{{- $ctx := dict "root" .root "component" .component -}}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "hallmark.fullname" .root }}-{{ .component }}
  labels:
    {{- include "hallmark.labels" $ctx | nindent 4 }}
spec:
  {{- toYaml .pdb | nindent 2 }}
  selector:
    matchLabels:
      {{- include "hallmark.selector" $ctx | nindent 6 }}
{{- end -}}
