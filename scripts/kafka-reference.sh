#!/usr/bin/env bash
# Apache Kafka itself, as the reference broker the test suites can also run
# against: fetches the broker's jars from Maven Central (nothing from anywhere
# else), formats a single-node KRaft log dir and starts it on a free loopback
# port. Needs Java 17+ and Maven.
#
#   scripts/kafka-reference.sh start DIR [name=value...]   # prints the bootstrap address once
#                                          # it accepts; name=value are broker configs to add
#   scripts/kafka-reference.sh stop DIR
#   scripts/kafka-reference.sh classpath   # Kafka's jars (broker, CLI tools), for the tool suites
#
# KAFKA_VERSION overrides the version in kafka-reference/pom.xml (4.1.1).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
POM="$HERE/kafka-reference/pom.xml"
# Maven's downloads live in the checkout's ignored .cache/ (see tests/clients/run.sh).
CACHE="$(cd "$HERE/.." && pwd)/.cache"
MAVEN_REPO="${FJORD_MAVEN_REPO:-$CACHE/maven}"

classpath() {
  local out="$CACHE/kafka-reference-${KAFKA_VERSION:-pom}.classpath"
  # Regenerated when missing or when the jars it names are gone.
  if [[ ! -s "$out" || ! -f "$(cut -d: -f1 "$out")" ]]; then
    mkdir -p "$(dirname "$out")"
    local version_flag=()
    [[ -n "${KAFKA_VERSION:-}" ]] && version_flag=("-Dkafka.version=$KAFKA_VERSION")
    mvn -q -Dmaven.repo.local="$MAVEN_REPO" -f "$POM" "${version_flag[@]}" \
      dependency:build-classpath -Dmdep.outputFile="$out" >&2
  fi
  cat "$out"
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

java_kafka() {
  java -Xms256m -Xmx1g -Dlog4j2.configurationFile="$HERE/kafka-reference/log4j2.properties" \
    -cp "$(classpath)" "$@"
}

start() {
  local dir="$1"
  shift
  mkdir -p "$dir"
  dir="$(cd "$dir" && pwd)"
  local port controller_port
  port="$(free_port)"
  controller_port="$(free_port)"
  cat >"$dir/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$controller_port
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$controller_port
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$dir/data
num.partitions=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
PROPS
  local setting
  for setting in "$@"; do echo "$setting" >>"$dir/server.properties"; done
  # Without eligible leader replicas (KIP-966), which only matter with replication: with them
  # on, formatting writes a cluster-wide min.insync.replicas=1 that every topic then reports
  # as a dynamic default, a difference from a plain broker that has nothing to do with clients.
  java_kafka kafka.tools.StorageTool format -t "$(java_kafka kafka.tools.StorageTool random-uuid)" \
    --feature eligible.leader.replicas.version=0 \
    -c "$dir/server.properties" >"$dir/format.log" 2>&1
  # Started directly, not through java_kafka: $! must be the JVM's pid (the
  # bench reads its CPU time and RSS), not a subshell's.
  local classpath_now
  classpath_now="$(classpath)"
  java -Xms256m -Xmx1g -Dlog4j2.configurationFile="$HERE/kafka-reference/log4j2.properties" \
    -cp "$classpath_now" kafka.Kafka "$dir/server.properties" >"$dir/kafka.log" 2>&1 &
  echo $! >"$dir/kafka.pid"
  for _ in $(seq 1 240); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "127.0.0.1:$port" | tee "$dir/bootstrap"
      return 0
    fi
    if ! kill -0 "$(cat "$dir/kafka.pid")" 2>/dev/null; then
      echo "Kafka exited during start-up; see $dir/kafka.log" >&2
      tail -20 "$dir/kafka.log" >&2
      return 1
    fi
    sleep 0.5
  done
  echo "Kafka did not listen within 120 s; see $dir/kafka.log" >&2
  return 1
}

stop() {
  local pid
  pid="$(cat "$1/kafka.pid" 2>/dev/null)" || return 0
  kill "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.5; done
  kill -9 "$pid" 2>/dev/null || true
}

case "${1:-}" in
  start) shift; start "${1:?usage: $0 start DIR [name=value...]}" "${@:2}" ;;
  stop) stop "${2:?usage: $0 stop DIR}" ;;
  classpath) classpath ;;
  *) echo "usage: $0 start DIR | stop DIR | classpath" >&2; exit 2 ;;
esac
