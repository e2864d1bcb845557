#!/usr/bin/env bash
# Regenerates crates/broker/src/configs/kafka.rs, the table of every broker,
# topic and group config Kafka defines, from Kafka's own jars (Maven Central), by running
# scripts/kafka-configs/ListConfigs.java against them. Needs Java 17 and Maven.
#
#   scripts/kafka-configs.sh            # Kafka version from the pom (4.1.1)
#   KAFKA_VERSION=4.1.2 scripts/kafka-configs.sh
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
OUT="$ROOT/crates/broker/src/configs/kafka.rs"
CLASSPATH_FILE="$(mktemp)"
trap 'rm -f "$CLASSPATH_FILE"' EXIT

version_flag=()
if [[ -n "${KAFKA_VERSION:-}" ]]; then
  version_flag=("-Dkafka.version=$KAFKA_VERSION")
fi
mvn -q ${MAVEN_OFFLINE:+-o} -f "$HERE/kafka-configs/pom.xml" "${version_flag[@]}" \
  dependency:build-classpath -Dmdep.outputFile="$CLASSPATH_FILE" >&2
# slf4j has no binding on this classpath and says so on stderr; nothing else is expected there.
java -cp "$(cat "$CLASSPATH_FILE")" "$HERE/kafka-configs/ListConfigs.java" >"$OUT.tmp" 2> >(grep -v '^SLF4J' >&2)
mv "$OUT.tmp" "$OUT"
rustfmt --edition 2021 "$OUT"
echo "wrote $OUT ($(grep -c 'name:' "$OUT") configs)" >&2
