#!/usr/bin/env bash
# Apache Kafka's own command-line tools (the kafka_2.13 and kafka-tools jars of
# the release in scripts/kafka-reference/pom.xml, from Maven Central) against
# the broker at $FJORD_BOOTSTRAP. Each check compares the tool's output with
# what it must be. The tools run as `java -cp <Kafka's jars> <main class>`,
# exactly what bin/kafka-*.sh run.
set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../../.." && pwd)"
B="${FJORD_BOOTSTRAP:?FJORD_BOOTSTRAP is not set: run tests/clients/run.sh}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/fjord-cli.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
CP="$("$ROOT/scripts/kafka-reference.sh" classpath)" || { echo "cannot resolve Kafka's jars"; exit 1; }
LOG4J="-Dlog4j2.configurationFile=$ROOT/scripts/kafka-reference/log4j2.properties"

tool() { # tool MAIN_CLASS ARGS... — one of Kafka's command-line tools
  local class="$1"; shift
  timeout 120 java -Xms64m -Xmx512m -XX:TieredStopAtLevel=1 -Xshare:auto "$LOG4J" -cp "$CP" "$class" "$@"
}
topics() { tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$B" "$@"; }
groups() { tool org.apache.kafka.tools.consumer.group.ConsumerGroupCommand --bootstrap-server "$B" "$@"; }
get_offsets() { tool org.apache.kafka.tools.GetOffsetShell --bootstrap-server "$B" "$@"; }

pass=0
fail=0
failed_names=()
t() { # t NAME FUNCTION — runs one check, prints its output if it fails
  local name="$1"; shift
  local out
  if out="$("$@" 2>&1)"; then
    pass=$((pass + 1)); echo "ok   $name"
  else
    fail=$((fail + 1)); failed_names+=("$name"); echo "FAIL $name"; printf '%s\n' "$out" | sed 's/^/     /' | tail -40
  fi
}
expect() { # expect WHAT EXPECTED ACTUAL — exact equality
  if [[ "$2" != "$3" ]]; then
    printf '%s: expected\n%s\ngot\n%s\n' "$1" "$2" "$3"
    return 1
  fi
}
contains() { # contains WHAT NEEDLE HAYSTACK
  if ! grep -qF -- "$2" <<<"$3"; then
    printf '%s: expected a line with %q in\n%s\n' "$1" "$2" "$3"
    return 1
  fi
}
lacks() { # lacks WHAT NEEDLE HAYSTACK
  if grep -qxF -- "$2" <<<"$3"; then
    printf '%s: did not expect %q in\n%s\n' "$1" "$2" "$3"
    return 1
  fi
}
name() { echo "cli-$1-$(head -c4 /dev/urandom | od -An -tx1 | tr -d ' \n')"; }
lines() { # lines N TAG — "key-i:TAG-i" lines
  local i
  for ((i = 0; i < $1; i++)); do echo "key-$i:$2-$i"; done
}
# Polls a command until its output contains (or, with !, lacks) a line; Kafka's
# topic deletion and group state changes are not always visible at once.
eventually() { # eventually [!] LINE COMMAND...
  local negate=0
  [[ "$1" == "!" ]] && { negate=1; shift; }
  local line="$1"; shift
  local out i
  for ((i = 0; i < 20; i++)); do
    out="$("$@" 2>&1)"
    if grep -qxF -- "$line" <<<"$out"; then
      [[ $negate == 0 ]] && return 0
    else
      [[ $negate == 1 ]] && return 0
    fi
    sleep 1
  done
  printf 'after 20 s, %s %q in\n%s\n' "$([[ $negate == 1 ]] && echo "still" || echo "no")" "$line" "$out"
  return 1
}

# ------------------------------------------------------------ kafka-topics ----
check_topics() {
  local tp; tp="$(name topics)"
  local out
  out="$(topics --create --topic "$tp" --partitions 3 --replication-factor 1 --config retention.ms=3600000)" || return 1
  expect "create" "Created topic $tp." "$out" || return 1
  out="$(topics --list)" || return 1
  contains "list" "$tp" "$out" || return 1
  out="$(topics --describe --topic "$tp")" || return 1
  contains "describe" "PartitionCount: 3" "$out" || return 1
  contains "describe configs" "retention.ms=3600000" "$out" || return 1
  expect "describe partitions" "0 1 2" "$(grep -oP 'Partition: \K[0-9]+' <<<"$out" | tr '\n' ' ' | sed 's/ $//')" || return 1
  topics --alter --topic "$tp" --partitions 5 || return 1
  out="$(topics --describe --topic "$tp")" || return 1
  contains "after alter" "PartitionCount: 5" "$out" || return 1
  out="$(topics --create --topic "$tp" --partitions 1 2>&1)"
  contains "create twice" "already exists" "$out" || return 1
  topics --delete --topic "$tp" || return 1
  eventually ! "$tp" topics --list
}

# ------------------------------- console producer, consumer and groups ----
check_console_and_groups() {
  local tp group; tp="$(name console)"; group="$(name group)"
  topics --create --topic "$tp" --partitions 1 --replication-factor 1 >/dev/null || return 1
  lines 100 first >"$WORK/first"
  tool org.apache.kafka.tools.ConsoleProducer --bootstrap-server "$B" --topic "$tp" \
    --property parse.key=true --property key.separator=: \
    --producer-property acks=all <"$WORK/first" || return 1
  tool org.apache.kafka.tools.consumer.ConsoleConsumer --bootstrap-server "$B" --topic "$tp" \
    --group "$group" --from-beginning --max-messages 100 --timeout-ms 30000 \
    --property print.key=true --property key.separator=: >"$WORK/consumed" || return 1
  expect "consumed" "$(cat "$WORK/first")" "$(cat "$WORK/consumed")" || return 1

  local out
  out="$(groups --list)" || return 1
  contains "groups --list" "$group" "$out" || return 1
  # GROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG ...
  out="$(groups --describe --group "$group")" || return 1
  expect "describe after consuming" "$tp 0 100 100 0" \
    "$(awk -v tp="$tp" '$2 == tp {print $2, $3, $4, $5, $6}' <<<"$out")" || return 1

  lines 10 second | tool org.apache.kafka.tools.ConsoleProducer --bootstrap-server "$B" --topic "$tp" \
    --property parse.key=true --property key.separator=: || return 1
  out="$(groups --describe --group "$group")" || return 1
  expect "lag after 10 more" "$tp 0 100 110 10" \
    "$(awk -v tp="$tp" '$2 == tp {print $2, $3, $4, $5, $6}' <<<"$out")" || return 1

  out="$(groups --reset-offsets --group "$group" --topic "$tp" --to-earliest --execute)" || return 1
  expect "reset-offsets" "$group $tp 0 0" \
    "$(awk -v tp="$tp" '$2 == tp {print $1, $2, $3, $4}' <<<"$out")" || return 1
  out="$(groups --describe --group "$group")" || return 1
  expect "describe after reset" "$tp 0 0 110 110" \
    "$(awk -v tp="$tp" '$2 == tp {print $2, $3, $4, $5, $6}' <<<"$out")" || return 1

  out="$(groups --delete --group "$group")" || return 1
  contains "delete group" "Deletion of requested consumer groups ('$group') was successful." "$out" || return 1
  eventually ! "$group" groups --list
}

# ------------------------------------------------------------ kafka-configs ----
check_configs() {
  local tp; tp="$(name configs)"
  topics --create --topic "$tp" --partitions 1 --replication-factor 1 --config retention.ms=3600000 >/dev/null || return 1
  local out
  out="$(tool kafka.admin.ConfigCommand --bootstrap-server "$B" --describe --entity-type topics --entity-name "$tp")" || return 1
  contains "dynamic configs" "Dynamic configs for topic $tp are:" "$out" || return 1
  contains "retention.ms" "retention.ms=3600000 sensitive=false synonyms={DYNAMIC_TOPIC_CONFIG:retention.ms=3600000" "$out" || return 1
  out="$(tool kafka.admin.ConfigCommand --bootstrap-server "$B" --describe --all --entity-type topics --entity-name "$tp")" || return 1
  contains "all: segment.bytes" "segment.bytes=1073741824 sensitive=false synonyms={DEFAULT_CONFIG:log.segment.bytes=1073741824}" "$out" || return 1
  contains "all: cleanup.policy" "cleanup.policy=delete sensitive=false synonyms={DEFAULT_CONFIG:log.cleanup.policy=delete}" "$out" || return 1
}

# Quotas: kafka-configs alters and describes them with AlterClientQuotas and
# DescribeClientQuotas.
check_quota_configs() {
  local user; user="$(name quota)"
  local cfg=(tool kafka.admin.ConfigCommand --bootstrap-server "$B")
  local entity=(--entity-type users --entity-name "$user" --entity-type clients --entity-default)
  "${cfg[@]}" --alter --add-config 'producer_byte_rate=1048576,request_percentage=50' "${entity[@]}" >/dev/null || return 1
  local out
  out="$("${cfg[@]}" --describe "${entity[@]}")" || return 1
  contains "quota entity" "Quota configs for user-principal '$user', the default client-id are" "$out" || return 1
  contains "producer_byte_rate" "producer_byte_rate=1048576.0" "$out" || return 1
  contains "request_percentage" "request_percentage=50.0" "$out" || return 1
  "${cfg[@]}" --alter --delete-config producer_byte_rate,request_percentage "${entity[@]}" >/dev/null || return 1
  out="$("${cfg[@]}" --describe "${entity[@]}")" || return 1
  lacks "quota removed" "Quota configs for user-principal '$user', the default client-id are producer_byte_rate=1048576.0, request_percentage=50.0" "$out" || return 1
  if "${cfg[@]}" --alter --add-config 'producer_byte_rate=1.5' --entity-type users --entity-name "$user" >"$WORK/bad" 2>&1; then
    echo "a fractional producer_byte_rate was taken"; return 1
  fi
  contains "refused" "InvalidRequestException" "$(cat "$WORK/bad")"
}

# ------------------------------------- kafka-get-offsets, delete-records ----
check_offsets_and_delete_records() {
  local tp; tp="$(name offsets)"
  topics --create --topic "$tp" --partitions 1 --replication-factor 1 >/dev/null || return 1
  lines 30 a | tool org.apache.kafka.tools.ConsoleProducer --bootstrap-server "$B" --topic "$tp" \
    --property parse.key=true --property key.separator=: || return 1
  local out
  out="$(get_offsets --topic "$tp")" || return 1
  expect "end offset" "$tp:0:30" "$out" || return 1
  local p0_end=30
  local cut=$((p0_end / 2))
  printf '{"partitions":[{"topic":"%s","partition":0,"offset":%d}],"version":1}\n' "$tp" "$cut" >"$WORK/delete.json"
  out="$(tool org.apache.kafka.tools.DeleteRecordsCommand --bootstrap-server "$B" --offset-json-file "$WORK/delete.json")" || return 1
  contains "delete-records" "partition: $tp-0	low_watermark: $cut" "$out" || return 1
  out="$(get_offsets --topic "$tp" --partitions 0 --time -2)" || return 1
  expect "earliest after delete-records" "$tp:0:$cut" "$out" || return 1
  out="$(get_offsets --topic "$tp" --partitions 0 --time -1)" || return 1
  expect "latest after delete-records" "$tp:0:$p0_end" "$out"
}

# ----------------------------------------------------------- perf tests ----
check_perf_tests() {
  local tp; tp="$(name perf)"
  topics --create --topic "$tp" --partitions 2 --replication-factor 1 >/dev/null || return 1
  local out
  out="$(tool org.apache.kafka.tools.ProducerPerformance --topic "$tp" --num-records 20000 \
    --record-size 100 --throughput -1 --producer-props "bootstrap.servers=$B" acks=all)" || return 1
  contains "producer-perf-test" "20000 records sent" "$out" || return 1
  out="$(get_offsets --topic "$tp")" || return 1
  expect "records stored" 20000 "$(awk -F: '{s += $3} END {print s}' <<<"$out")" || return 1
  # start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, ...
  out="$(tool org.apache.kafka.tools.ConsumerPerformance --bootstrap-server "$B" --topic "$tp" \
    --messages 20000 --timeout 60000)" || return 1
  expect "consumer-perf-test messages" 20000 "$(tail -1 <<<"$out" | awk -F', *' '{print $5}')"
}

t "kafka-topics: create, list, describe, alter partitions, delete" check_topics
t "console producer/consumer with a group; kafka-consumer-groups list, describe, reset, delete" check_console_and_groups
t "kafka-configs --describe" check_configs
t "kafka-configs: user and client-id quotas" check_quota_configs
t "kafka-get-offsets and kafka-delete-records" check_offsets_and_delete_records
t "kafka-producer-perf-test and kafka-consumer-perf-test" check_perf_tests

echo "cli: $pass passed, $fail failed"
[[ $fail -eq 0 ]] || { printf 'failed: %s\n' "${failed_names[@]}"; exit 1; }
