{{/*
Names and labels.
*/}}
{{- define "mch.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "mch.fullname" -}}
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

{{/* Name of one service's resources. Context: dict root, name. */}}
{{- define "mch.serviceName" -}}
{{- printf "%s-%s" (include "mch.fullname" .root | trunc 48 | trimSuffix "-") .name -}}
{{- end -}}

{{- define "mch.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "mch.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: mch-platform
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Selector of one service's pods. Context: dict root, name. */}}
{{- define "mch.selectorLabels" -}}
app.kubernetes.io/name: {{ include "mch.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .name }}
{{- end -}}

{{/* Selector of one service's migration pods. Context: dict root, name. */}}
{{- define "mch.migrationSelectorLabels" -}}
app.kubernetes.io/name: {{ include "mch.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ printf "%s-migrations" .name }}
{{- end -}}

{{- define "mch.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}
{{- end -}}

{{- define "mch.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "mch.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "mch.strimziNamespace" -}}
{{- default .Release.Namespace .Values.strimzi.namespace -}}
{{- end -}}

{{/*
Kafka settings derived from the security protocol.
*/}}
{{- define "mch.kafkaUsesSasl" -}}
{{- if hasPrefix "SASL_" .Values.kafka.securityProtocol -}}true{{- end -}}
{{- end -}}

{{- define "mch.kafkaUsesTls" -}}
{{- if has .Values.kafka.securityProtocol (list "SSL" "SASL_SSL") -}}true{{- end -}}
{{- end -}}

{{/* Secret with a service's Kafka password. Context: dict root, name, svc. */}}
{{- define "mch.kafkaSaslSecret" -}}
{{- if .root.Values.strimzi.users.enabled -}}
{{- .svc.kafka.sasl.username -}}
{{- else -}}
{{- .svc.kafka.sasl.existingSecret -}}
{{- end -}}
{{- end -}}

{{- define "mch.kafkaSaslPasswordKey" -}}
{{- if .root.Values.strimzi.users.enabled -}}password{{- else -}}{{- .svc.kafka.sasl.passwordKey -}}{{- end -}}
{{- end -}}

{{/* KEDA's names for the SASL mechanisms. */}}
{{- define "mch.kedaSasl" -}}
{{- $m := dict "PLAIN" "plaintext" "SCRAM-SHA-256" "scram_sha256" "SCRAM-SHA-512" "scram_sha512" -}}
{{- get $m .Values.kafka.saslMechanism -}}
{{- end -}}

{{/*
Consumer ceiling of a service: the largest partition count among the topics it consumes.
A replica beyond it has no partition of any of its topics and sits idle.
Context: dict root, name, svc. Fails on an unknown topic key.
*/}}
{{- define "mch.partitionCeiling" -}}
{{- $max := 0 -}}
{{- range .svc.consumes -}}
{{- $topic := get $.root.Values.topics . -}}
{{- if not $topic -}}
{{- fail (printf "services.%s.consumes: unknown topic key %q (known: %s)" $.name . (keys $.root.Values.topics | sortAlpha | join ", ")) -}}
{{- end -}}
{{- if gt (int $topic.partitions) $max -}}
{{- $max = int $topic.partitions -}}
{{- end -}}
{{- end -}}
{{- $max -}}
{{- end -}}

{{/* Topic names a service consumes, comma-separated. Context: dict root, name, svc. */}}
{{- define "mch.consumedTopicNames" -}}
{{- $names := list -}}
{{- range .svc.consumes -}}
{{- $names = append $names (get $.root.Values.topics .).name -}}
{{- end -}}
{{- join ", " $names -}}
{{- end -}}

{{/*
The pod's environment: exactly the variables of docs/architecture.md. Every secret value comes
from a secretKeyRef. Context: dict root, name, svc.
*/}}
{{- define "mch.env" -}}
{{- $root := .root -}}
{{- $svc := .svc -}}
- name: HOST
  value: "0.0.0.0"
- name: PORT
  value: {{ $svc.port | quote }}
- name: DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ required (printf "services.%s.database.existingSecret is required" .name) $svc.database.existingSecret }}
      key: {{ $svc.database.key }}
- name: KAFKA_BOOTSTRAP_SERVERS
  value: {{ required "kafka.bootstrapServers is required" $root.Values.kafka.bootstrapServers | quote }}
- name: KAFKA_SECURITY_PROTOCOL
  value: {{ $root.Values.kafka.securityProtocol | quote }}
- name: KAFKA_CLIENT_ID_PREFIX
  value: {{ $root.Values.kafka.clientIdPrefix | quote }}
- name: KAFKA_ENABLE_IDEMPOTENCE
  value: {{ $root.Values.kafka.enableIdempotence | quote }}
- name: KAFKA_CREATE_TOPICS
  value: "false"
- name: KAFKA_TOPIC_PARTITIONS
  value: {{ include "mch.partitionCeiling" . | quote }}
- name: CONSUMER_BATCH_SIZE
  value: {{ $svc.consumer.batchSize | quote }}
- name: CONSUMER_CONCURRENCY
  value: {{ $svc.consumer.concurrency | quote }}
{{- if include "mch.kafkaUsesSasl" $root }}
- name: KAFKA_SASL_MECHANISM
  value: {{ $root.Values.kafka.saslMechanism | quote }}
{{- if and $svc.kafka.sasl.usernameKey (not $root.Values.strimzi.users.enabled) }}
- name: KAFKA_SASL_USERNAME
  valueFrom:
    secretKeyRef:
      name: {{ include "mch.kafkaSaslSecret" . }}
      key: {{ $svc.kafka.sasl.usernameKey }}
{{- else }}
- name: KAFKA_SASL_USERNAME
  value: {{ required (printf "services.%s.kafka.sasl.username is required" .name) $svc.kafka.sasl.username | quote }}
{{- end }}
- name: KAFKA_SASL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ required (printf "services.%s.kafka.sasl.existingSecret is required with %s" .name $root.Values.kafka.securityProtocol) (include "mch.kafkaSaslSecret" .) }}
      key: {{ include "mch.kafkaSaslPasswordKey" . }}
{{- end }}
{{- if include "mch.kafkaUsesTls" $root }}
{{- if $root.Values.kafka.tls.caSecret }}
- name: KAFKA_SSL_CAFILE
  value: {{ printf "/etc/mch/kafka-ca/%s" $root.Values.kafka.tls.caKey | quote }}
{{- end }}
{{- if $svc.kafka.tls.existingSecret }}
- name: KAFKA_SSL_CERTFILE
  value: {{ printf "/etc/mch/kafka-client/%s" $svc.kafka.tls.certKey | quote }}
- name: KAFKA_SSL_KEYFILE
  value: {{ printf "/etc/mch/kafka-client/%s" $svc.kafka.tls.keyKey | quote }}
{{- end }}
{{- end }}
{{- if $root.Values.auth.issuer }}
- name: AUTH_ISSUER
  value: {{ $root.Values.auth.issuer | quote }}
- name: AUTH_JWKS_URL
  value: {{ required "auth.jwksUrl is required with auth.issuer" $root.Values.auth.jwksUrl | quote }}
- name: AUTH_AUDIENCE
  value: {{ $root.Values.auth.audience | quote }}
{{- end }}
{{- if and (eq .name "records") $root.Values.facilityClaims.required }}
- name: REQUIRE_FACILITY_CLAIMS
  value: "true"
- name: FACILITY_KEYS_FILE
  value: {{ printf "/etc/mch/facility-keys/%s" $root.Values.facilityClaims.keysKey | quote }}
{{- end }}
{{- if $root.Values.otel.endpoint }}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ $root.Values.otel.endpoint | quote }}
{{- end }}
- name: OTEL_SERVICE_NAME
  value: {{ printf "mch-%s" .name | quote }}
- name: LOG_LEVEL
  value: {{ $root.Values.logLevel | quote }}
{{- end -}}

{{/* Volume mounts of the Kafka TLS files. Context: dict root, name, svc. */}}
{{- define "mch.kafkaTlsMounts" -}}
{{- if include "mch.kafkaUsesTls" .root -}}
{{- if .root.Values.kafka.tls.caSecret }}
- name: kafka-ca
  mountPath: /etc/mch/kafka-ca
  readOnly: true
{{- end }}
{{- if .svc.kafka.tls.existingSecret }}
- name: kafka-client
  mountPath: /etc/mch/kafka-client
  readOnly: true
{{- end }}
{{- end -}}
{{- end -}}

{{- define "mch.kafkaTlsVolumes" -}}
{{- if include "mch.kafkaUsesTls" .root -}}
{{- if .root.Values.kafka.tls.caSecret }}
- name: kafka-ca
  secret:
    secretName: {{ .root.Values.kafka.tls.caSecret }}
    defaultMode: 0440
    items:
      - key: {{ .root.Values.kafka.tls.caKey }}
        path: {{ .root.Values.kafka.tls.caKey }}
{{- end }}
{{- if .svc.kafka.tls.existingSecret }}
- name: kafka-client
  secret:
    secretName: {{ .svc.kafka.tls.existingSecret }}
    defaultMode: 0440
    items:
      - key: {{ .svc.kafka.tls.certKey }}
        path: {{ .svc.kafka.tls.certKey }}
      - key: {{ .svc.kafka.tls.keyKey }}
        path: {{ .svc.kafka.tls.keyKey }}
{{- end }}
{{- end -}}
{{- end -}}

{{/* NetworkPolicy egress rules every pod of a service needs: DNS and its PostgreSQL. */}}
{{- define "mch.egressDnsAndDatabase" -}}
{{- $np := .root.Values.networkPolicy -}}
- to:
    - namespaceSelector:
        {{- toYaml $np.dns.namespaceSelector | nindent 8 }}
      podSelector:
        {{- toYaml $np.dns.podSelector | nindent 8 }}
  ports:
    - protocol: UDP
      port: 53
    - protocol: TCP
      port: 53
- to:
    {{- toYaml (required (printf "services.%s.database.networkPeers is required with networkPolicy.enabled" .name) .svc.database.networkPeers) | nindent 4 }}
  ports:
    - protocol: TCP
      port: {{ $np.postgresPort }}
{{- end -}}
