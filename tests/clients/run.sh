#!/usr/bin/env bash
# Real-client suites against a real `fjord` broker.
#
#   tests/clients/run.sh               # all suites: python js kcat cli java go
#   tests/clients/run.sh rust          # crates/fjord's rdkafka tests against the broker started here
#   tests/clients/run.sh python kcat   # just these
#   tests/clients/run.sh --install-only # only install the client libraries
#   FJORD_REFERENCE=kafka tests/clients/run.sh cli   # against Apache Kafka instead
#
# Builds the broker once (release), then for each suite starts a fresh broker
# on a free loopback port with its own temporary data dir, runs the suite with
# FJORD_BOOTSTRAP=127.0.0.1:PORT (and the broker's data dir in
# FJORD_TEST_DATA_DIR, for checks on what was stored), stops the broker and removes the data dir.
# Every suite runs even if an earlier one failed; the exit status is non-zero
# if any failed.  Installs client deps on first use if they are missing
# (.ci/run installs them up front).
#
# Env knobs:
#   FJORD_BIN=/path/to/fjord   skip the cargo build and use this binary
#   PYTEST_ARGS="-k kcat -x"   extra pytest arguments
#   SUITE_TIMEOUT=900          seconds before a suite is killed
#   KEEP_DATA=1                keep broker data dirs and logs for inspection
#   FJORD_REFERENCE=kafka      run the suites against Apache Kafka (scripts/kafka-reference.sh:
#                              a single-node KRaft broker from Maven Central's jars) instead of
#                              fjord, with the same broker settings; a test that encodes a Fjord
#                              quirk rather than Kafka's behaviour fails there
set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
SUITE_TIMEOUT="${SUITE_TIMEOUT:-900}"
PY="${PYTHON:-python3}"

log() { printf '==> %s\n' "$*" >&2; }

# Maven's and Go's downloads live in the checkout's ignored .cache/, so a CI
# cache of the checkout keeps them (override with the usual variables).
export FJORD_MAVEN_REPO="${FJORD_MAVEN_REPO:-$ROOT/.cache/maven}"
export GOMODCACHE="${GOMODCACHE:-$ROOT/.cache/go/mod}"
export GOCACHE="${GOCACHE:-$ROOT/.cache/go/build}"
mvn_() { mvn -Dmaven.repo.local="$FJORD_MAVEN_REPO" "$@"; }

# ---------------------------------------------------------- client deps ----
ensure_python() {
  local venv="$HERE/.venv" req="$HERE/python/requirements.txt"
  local stamp="$venv/.requirements.installed"
  if [[ ! -x "$venv/bin/python" ]]; then
    log "creating venv $venv"
    "$PY" -m venv "$venv" || return 1
  fi
  if [[ ! -f "$stamp" ]] || ! cmp -s "$req" "$stamp"; then
    log "pip install -r $req"
    "$venv/bin/pip" install --disable-pip-version-check -q -r "$req" || return 1
    cp "$req" "$stamp"
  fi
}
ensure_js() {
  if [[ ! -d "$HERE/js/node_modules/kafkajs" || "${1:-}" == force ]]; then
    log "npm ci in $HERE/js"
    (cd "$HERE/js" && npm ci --no-audit --no-fund) || return 1
  fi
}
ensure_java() {
  command -v java >/dev/null && command -v mvn >/dev/null ||
    { log "java and mvn are needed (apt-get install -y openjdk-17-jdk-headless maven)"; return 1; }
  "$ROOT/scripts/kafka-reference.sh" classpath >/dev/null
}
ensure_java_suite() {
  ensure_java || return 1
  # resolves kafka-clients, kafka-streams, JUnit and the plugins, and compiles
  (cd "$HERE/java" && mvn_ -q -B test-compile) || return 1
}
ensure_go() {
  command -v go >/dev/null || { log "go is needed (apt-get install -y golang-go)"; return 1; }
  (cd "$HERE/go" && go mod download && go vet ./...) || return 1
}
ensure_kcat() {
  command -v kcat >/dev/null || { log "kcat not installed (apt-get install -y kcat)"; return 1; }
}

if [[ "${1:-}" == --install-only ]]; then
  # used by .ci/run: install the Python venv and node modules, nothing else
  ensure_python || { log "python client install failed"; exit 1; }
  ensure_js force || { log "npm ci failed"; exit 1; }
  ensure_java_suite || { log "resolving Kafka's jars or the Java suite (Maven Central) failed"; exit 1; }
  ensure_go || { log "go mod download (module proxy) failed"; exit 1; }
  exit 0
fi

# ---------------------------------------------------------------- build ----
REFERENCE="${FJORD_REFERENCE:-}"
if [[ -n "$REFERENCE" && "$REFERENCE" != kafka ]]; then
  log "FJORD_REFERENCE must be 'kafka' (got '$REFERENCE')"
  exit 2
fi
if [[ "$REFERENCE" == kafka ]]; then
  BIN="(Apache Kafka)"
elif [[ -n "${FJORD_BIN:-}" ]]; then
  BIN="$FJORD_BIN"
else
  log "building fjord (cargo build -p fjord --release)"
  if ! (cd "$ROOT" && cargo build -p fjord --release); then
    log "cargo build failed: no client suite can run"
    echo "client-suites: 0 passed, 1 failed"
    exit 1
  fi
  BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/fjord"
fi
if [[ -z "$REFERENCE" && ! -x "$BIN" ]]; then
  log "broker binary not found at $BIN"
  echo "client-suites: 0 passed, 1 failed"
  exit 1
fi

# --------------------------------------------------------------- broker ----
free_port() {
  "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

BROKER_PID=""
BROKER_DIR=""
BROKER_LOG=""
DATA_DIR=""
PORT=""
# Beside the PLAINTEXT listener, Fjord also opens a SASL_PLAINTEXT one on
# SASL_PORT with one PLAIN user (hashed by `fjord user hash`) and the SCRAM
# mechanisms, that user holding a SCRAM-SHA-512 credential from `fjord user
# add` before the broker starts (for clients without an
# AlterUserScramCredentials API, KafkaJS; the Python tests replace it with
# their own), for the suites' SASL tests: FJORD_SASL_BOOTSTRAP,
# FJORD_SASL_USER and FJORD_SASL_PASSWORD. A random
# delegation.token.secret.key turns delegation tokens on (the Java suite's
# DelegationTokenTest). The Kafka reference has no SASL listener.
SASL_PORT=""
SASL_USER="fjord-client"
SASL_PASSWORD="fjord-client-secret"
# Fjord also opens an SSL listener on SSL_PORT and a SASL_SSL one (the same
# users and mechanisms) on SASL_SSL_PORT, with a server certificate for
# 127.0.0.1 and localhost from a throwaway CA made at each start
# (make_test_certs): FJORD_SSL_BOOTSTRAP, FJORD_SASL_SSL_BOOTSTRAP and
# FJORD_SSL_CA (the CA's PEM file) for the suites' TLS tests.
SSL_PORT=""
SASL_SSL_PORT=""
SSL_CA=""

# make_test_certs DIR: DIR/ca.crt (a CA) and DIR/server.pem (key and
# certificate, as ssl.keystore.location takes them). P-256 keys: well under
# a second. The extensions satisfy OpenSSL's strict verification (Python's
# default context on newer versions).
make_test_certs() {
  local dir="$1"
  mkdir -p "$dir" || return 1
  (
    set -e
    cd "$dir"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
      -subj "/CN=fjord client-suite CA" -keyout ca.key -out ca.crt \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
      -subj "/CN=localhost" -keyout server.key -out server.csr
    printf '%s\n' "subjectAltName=IP:127.0.0.1,DNS:localhost" "basicConstraints=critical,CA:FALSE" \
      "keyUsage=critical,digitalSignature" "extendedKeyUsage=serverAuth" \
      "subjectKeyIdentifier=hash" "authorityKeyIdentifier=keyid" >server.ext
    openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -set_serial "0x$(openssl rand -hex 8)" \
      -days 2 -extfile server.ext -out server.crt
    cat server.key server.crt >server.pem
  ) >"$dir/openssl.log" 2>&1 || { log "making test certificates failed:"; cat "$dir/openssl.log" >&2; return 1; }
}

start_broker() {
  BROKER_DIR="$(mktemp -d "${TMPDIR:-/tmp}/fjord-client-$1.XXXXXX")"
  BROKER_LOG="$BROKER_DIR/broker.log"
  DATA_DIR="$BROKER_DIR/data"
  if [[ "$REFERENCE" == kafka ]]; then
    DATA_DIR="$BROKER_DIR/kafka/data"    # log.dirs, with Kafka's <topic>-<partition>/ layout
    local bootstrap
    if ! bootstrap="$("$ROOT/scripts/kafka-reference.sh" start "$BROKER_DIR/kafka" \
      num.partitions=4 auto.create.topics.enable=true 2>"$BROKER_LOG")"; then
      log "Apache Kafka did not start; its log:"
      tail -n 50 "$BROKER_LOG" "$BROKER_DIR/kafka/kafka.log" >&2
      return 1
    fi
    PORT="${bootstrap##*:}"
    BROKER_PID="$(cat "$BROKER_DIR/kafka/kafka.pid")"
    BROKER_LOG="$BROKER_DIR/kafka/kafka.log"
    log "Apache Kafka pid $BROKER_PID listening on $bootstrap (log $BROKER_LOG)"
    return 0
  fi
  PORT="$(free_port)"
  SASL_PORT="$(free_port)"
  SSL_PORT="$(free_port)"
  SASL_SSL_PORT="$(free_port)"
  make_test_certs "$BROKER_DIR/tls" || return 1
  SSL_CA="$BROKER_DIR/tls/ca.crt"
  local sasl_hash
  if ! sasl_hash="$(printf '%s\n' "$SASL_PASSWORD" | "$BIN" user hash --iterations 10000)"; then
    log "fjord user hash failed"
    return 1
  fi
  if ! printf '%s\n' "$SASL_PASSWORD" | "$BIN" user add "$SASL_USER" --mechanism SCRAM-SHA-512 \
    --data-dir "$BROKER_DIR/data" >"$BROKER_DIR/user-add.log" 2>&1; then
    log "fjord user add failed:"
    cat "$BROKER_DIR/user-add.log" >&2
    return 1
  fi
  "$BIN" serve --listen "127.0.0.1:$PORT" --data-dir "$BROKER_DIR/data" \
    --override num.partitions=4 \
    --override auto.create.topics.enable=true \
    --override "listeners=PLAINTEXT://127.0.0.1:$PORT,SASL_PLAINTEXT://127.0.0.1:$SASL_PORT,SSL://127.0.0.1:$SSL_PORT,SASL_SSL://127.0.0.1:$SASL_SSL_PORT" \
    --override "ssl.keystore.location=$BROKER_DIR/tls/server.pem" \
    --override sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512 \
    --override "sasl.plain.users.$SASL_USER=$sasl_hash" \
    --override "delegation.token.secret.key=$(openssl rand -hex 32)" \
    >"$BROKER_LOG" 2>&1 &
  BROKER_PID=$!
  local i
  for ((i = 0; i < 300; i++)); do          # up to 30 s
    if ! kill -0 "$BROKER_PID" 2>/dev/null; then
      log "broker exited during start-up; its log:"
      tail -n 50 "$BROKER_LOG" >&2
      BROKER_PID=""
      return 1
    fi
    if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
      log "broker pid $BROKER_PID listening on 127.0.0.1:$PORT (log $BROKER_LOG)"
      return 0
    fi
    sleep 0.1
  done
  log "broker did not listen on 127.0.0.1:$PORT within 30 s; its log:"
  tail -n 50 "$BROKER_LOG" >&2
  return 1
}

stop_broker() {
  local ok="$1"
  if [[ -n "$BROKER_PID" ]]; then
    kill "$BROKER_PID" 2>/dev/null
    local i
    for ((i = 0; i < 50; i++)); do
      kill -0 "$BROKER_PID" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$BROKER_PID" 2>/dev/null; then
      log "broker pid $BROKER_PID ignored SIGTERM for 5 s; SIGKILL"
      kill -9 "$BROKER_PID" 2>/dev/null
    fi
    wait "$BROKER_PID" 2>/dev/null
    BROKER_PID=""
  fi
  if [[ "$ok" != 0 && -n "$BROKER_LOG" && -f "$BROKER_LOG" ]]; then
    log "last lines of the broker log ($BROKER_LOG):"
    tail -n 40 "$BROKER_LOG" >&2
  fi
  if [[ -n "$BROKER_DIR" && -z "${KEEP_DATA:-}" ]]; then
    rm -rf "$BROKER_DIR"
  fi
  BROKER_DIR=""
  BROKER_LOG=""
}
trap 'stop_broker 0' EXIT
trap 'stop_broker 0; exit 130' INT TERM

# --------------------------------------------------------------- suites ----
# listener_env: the SASL and TLS listeners' variables (see start_broker) as
# NAME=value words for `env`, none against the Kafka reference.
listener_env() {
  [[ -n "$SASL_PORT" ]] && printf '%s\n' FJORD_SASL_BOOTSTRAP="127.0.0.1:$SASL_PORT" \
    FJORD_SASL_USER="$SASL_USER" FJORD_SASL_PASSWORD="$SASL_PASSWORD"
  [[ -n "$SSL_PORT" ]] && printf '%s\n' FJORD_SSL_BOOTSTRAP="127.0.0.1:$SSL_PORT" \
    FJORD_SASL_SSL_BOOTSTRAP="127.0.0.1:$SASL_SSL_PORT" FJORD_SSL_CA="$SSL_CA"
  return 0
}
suite_python() {
  ensure_python || return 1
  # shellcheck disable=SC2086
  # PYTHONNODEBUGRANGES: no ^^^ column markers in tracebacks. On CPython
  # 3.11.7, computing them (traceback parses the source line with ast) for
  # what aiokafka's and asyncio's loggers print when a transactional send
  # fails leaves the ast module's recursion-depth check off, and every later
  # ast.parse raises "AST constructor recursion depth mismatch": pytest then
  # stops with an INTERNALERROR at the next failure it formats.
  # FJORD_BIN: the binary, for tests that start a Fjord of their own with
  # settings this broker lacks (test_acls_admin.py: an authorizer).
  local listeners=()
  mapfile -t listeners < <(listener_env)
  [[ -n "$SASL_PORT" ]] && listeners+=(FJORD_BIN="$BIN")
  (cd "$HERE/python" && env "${listeners[@]}" FJORD_BOOTSTRAP="127.0.0.1:$PORT" FJORD_TEST_DATA_DIR="$DATA_DIR" \
    PYTHONNODEBUGRANGES=1 timeout "$SUITE_TIMEOUT" "$HERE/.venv/bin/python" -m pytest -q -ra \
      --timeout=120 -p no:cacheprovider ${PYTEST_ARGS:-} .)
}
suite_js() {
  ensure_js || return 1
  local listeners=()
  mapfile -t listeners < <(listener_env)
  (cd "$HERE/js" && env "${listeners[@]}" FJORD_BOOTSTRAP="127.0.0.1:$PORT" \
    timeout "$SUITE_TIMEOUT" node --test --test-concurrency=1 test/)
}
suite_cli() {
  ensure_java || return 1
  FJORD_BOOTSTRAP="127.0.0.1:$PORT" timeout "$SUITE_TIMEOUT" bash "$HERE/cli/test.sh"
}
suite_java() {
  ensure_java_suite || return 1
  local listeners=()
  mapfile -t listeners < <(listener_env)
  (cd "$HERE/java" && env "${listeners[@]}" FJORD_BOOTSTRAP="127.0.0.1:$PORT" timeout "$SUITE_TIMEOUT" mvn -Dmaven.repo.local="$FJORD_MAVEN_REPO" -q -B test)
  local rc=$?
  grep -h "Tests run" "$HERE/java/target/surefire-reports/"*.txt 2>/dev/null
  return $rc
}
suite_go() {
  ensure_go || return 1
  (cd "$HERE/go" && FJORD_BOOTSTRAP="127.0.0.1:$PORT" timeout "$SUITE_TIMEOUT" go test -count=1 -v ./...)
}
# The rdkafka integration tests of crates/fjord (librdkafka 2.12): those that
# need only a running broker use FJORD_TEST_BOOTSTRAP, the others (restarts,
# kills, their own settings) skip and say why. Not in the default list:
# `cargo test` already runs them against an in-process Fjord; scripts/test-all
# runs them here against Apache Kafka.
#
# The binaries come from `cargo test --workspace --release`, as scripts/test-all
# builds them: `-p fjord` alone resolves dependency features differently (the
# workspace's dev-dependencies drop out) and would build and link every test
# binary a second time.
suite_rust() {
  local list rc=0 bin
  list="$(mktemp)"
  (cd "$ROOT" && cargo test --release --workspace --no-run --message-format=json) \
    | python3 -c '
import json, sys
for line in sys.stdin:
    try:
        m = json.loads(line)
    except ValueError:
        continue
    if (m.get("reason") == "compiler-artifact" and m.get("executable")
            and m["target"]["kind"] == ["test"]
            and m["manifest_path"].endswith("crates/fjord/Cargo.toml")):
        print(m["executable"])
' >"$list" || { rm -f "$list"; return 1; }
  [[ -s "$list" ]] || { log "no test binaries of crates/fjord found"; rm -f "$list"; return 1; }
  while read -r bin; do
    log "rust: $(basename "$bin")"
    (cd "$ROOT/crates/fjord" && FJORD_TEST_BOOTSTRAP="127.0.0.1:$PORT" \
      timeout "$SUITE_TIMEOUT" "$bin") || rc=1
  done <"$list"
  rm -f "$list"
  return $rc
}
suite_kcat() {
  ensure_kcat || return 1
  FJORD_BOOTSTRAP="127.0.0.1:$PORT" FJORD_TEST_DATA_DIR="$DATA_DIR" \
    timeout "$SUITE_TIMEOUT" bash "$HERE/kcat/test.sh"
}

SUITES=("$@")
[[ ${#SUITES[@]} -eq 0 ]] && SUITES=(python js kcat cli java go)

passed=()
failed=()
for s in "${SUITES[@]}"; do
  if ! declare -F "suite_$s" >/dev/null; then
    log "unknown suite '$s' (known: python js kcat cli java go rust)"
    failed+=("$s(unknown)")
    continue
  fi
  log "suite $s: starting a fresh broker"
  if ! start_broker "$s"; then
    stop_broker 1
    failed+=("$s(broker did not start)")
    continue
  fi
  log "suite $s: running"
  "suite_$s"
  rc=$?
  if ! kill -0 "$BROKER_PID" 2>/dev/null; then
    log "suite $s: the broker died during the suite"
    rc=1
  fi
  if grep -q "panicked at" "$BROKER_LOG" 2>/dev/null; then
    log "suite $s: the broker panicked:"
    grep -A5 "panicked at" "$BROKER_LOG" | head -30 >&2
    rc=1
  fi
  stop_broker "$rc"
  if [[ $rc -eq 0 ]]; then
    log "suite $s: PASSED"
    passed+=("$s")
  else
    log "suite $s: FAILED (exit $rc)"
    failed+=("$s")
  fi
done

echo
echo "client suites passed: ${passed[*]:-none}"
echo "client suites failed: ${failed[*]:-none}"
echo "client-suites: ${#passed[@]} passed, ${#failed[@]} failed"
[[ ${#failed[@]} -eq 0 ]]
