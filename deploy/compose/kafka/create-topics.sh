#!/usr/bin/env bash
# One-shot job: create the platform's topics (idempotent) and apply their retention.
#
# Reads /opt/mch/topics.conf (name partitions retention.ms per line). Environment:
#   BOOTSTRAP_SERVERS            e.g. kafka:9092
#   TOPIC_REPLICATION_FACTOR     1 on one node, 3 with the kafka-ha profile
#   TOPIC_MIN_INSYNC_REPLICAS    1 on one node, 2 with the kafka-ha profile
#   WAIT_SECONDS                 how long to wait for enough brokers (default 180)
#
# A topic that already exists keeps its partition count: adding partitions moves keys to other
# partitions and breaks per-person ordering, so it is an operator's decision (deploy/README.md).
set -euo pipefail

BIN=/opt/kafka/bin
BOOTSTRAP="${BOOTSTRAP_SERVERS:?BOOTSTRAP_SERVERS is required}"
RF="${TOPIC_REPLICATION_FACTOR:-1}"
MIN_ISR="${TOPIC_MIN_INSYNC_REPLICAS:-1}"
WAIT_SECONDS="${WAIT_SECONDS:-180}"
CONF="${TOPICS_CONF:-/opt/mch/topics.conf}"

log() { printf '%s create-topics: %s\n' "$(date -u +%FT%TZ)" "$*"; }

# Wait until the cluster has at least RF brokers (the kafka-ha nodes may still be starting).
deadline=$(( $(date +%s) + WAIT_SECONDS ))
while :; do
  brokers=$("$BIN/kafka-broker-api-versions.sh" --bootstrap-server "$BOOTSTRAP" 2>/dev/null \
            | grep -c '(id: ' || true)
  if [ "${brokers:-0}" -ge "$RF" ]; then
    log "$brokers broker(s) up, replication factor $RF"
    break
  fi
  if [ "$(date +%s)" -ge "$deadline" ]; then
    log "only ${brokers:-0} broker(s) after ${WAIT_SECONDS}s, need $RF" >&2
    exit 1
  fi
  sleep 3
done

existing=$("$BIN/kafka-topics.sh" --bootstrap-server "$BOOTSTRAP" --list)

while read -r name partitions retention _; do
  case "$name" in ''|'#'*) continue ;; esac
  if grep -qxF "$name" <<<"$existing"; then
    log "$name exists: applying retention.ms=$retention min.insync.replicas=$MIN_ISR"
    "$BIN/kafka-configs.sh" --bootstrap-server "$BOOTSTRAP" --alter \
      --entity-type topics --entity-name "$name" \
      --add-config "retention.ms=$retention,min.insync.replicas=$MIN_ISR,unclean.leader.election.enable=false"
    current=$("$BIN/kafka-topics.sh" --bootstrap-server "$BOOTSTRAP" --describe --topic "$name" \
              | sed -n 's/.*PartitionCount: *\([0-9]*\).*/\1/p' | head -n1)
    if [ "${current:-0}" != "$partitions" ]; then
      log "WARNING: $name has ${current:-?} partitions, topics.conf says $partitions (left as is)" >&2
    fi
  else
    log "creating $name: $partitions partitions, retention.ms=$retention"
    "$BIN/kafka-topics.sh" --bootstrap-server "$BOOTSTRAP" --create --if-not-exists \
      --topic "$name" --partitions "$partitions" --replication-factor "$RF" \
      --config "retention.ms=$retention" \
      --config "min.insync.replicas=$MIN_ISR" \
      --config unclean.leader.election.enable=false \
      --config cleanup.policy=delete
  fi
done < "$CONF"

"$BIN/kafka-topics.sh" --bootstrap-server "$BOOTSTRAP" --describe --exclude-internal \
  | grep -E '^Topic: mch\.' || true
log "done"
