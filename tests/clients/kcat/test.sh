#!/usr/bin/env bash
# kcat (Debian's, on librdkafka 2.0.2) against fjord at $FJORD_BOOTSTRAP.
# Each check compares kcat's exact output with what was produced.
set -uo pipefail
# Output is matched with `grep -q PATTERN <<<"$text"`, never `echo "$text" | grep -q`: grep -q exits
# at its first match, bash's echo writes line by line, and the SIGPIPE on echo's next write fails the
# whole pipeline under pipefail (CI saw "partition 2 missing" in a listing that held it).

B="${FJORD_BOOTSTRAP:?FJORD_BOOTSTRAP is not set: run tests/clients/run.sh}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/fjord-kcat.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
KCAT=(kcat -b "$B" -X socket.timeout.ms=10000 -X topic.message.timeout.ms=20000)

pass=0
fail=0
failed_names=()
t() { # t NAME FUNCTION [ARGS...]
  local name="$1"; shift
  local out
  if out="$("$@" 2>&1)"; then
    pass=$((pass + 1)); echo "ok   $name"
  else
    fail=$((fail + 1)); failed_names+=("$name"); echo "FAIL $name"; printf '%s\n' "$out" | sed 's/^/     /' | head -40
  fi
}
topic() { echo "kcat-$1-$(head -c4 /dev/urandom | od -An -tx1 | tr -d ' \n')"; }
same() { # same EXPECTED_FILE ACTUAL_FILE WHAT
  if ! cmp -s "$1" "$2"; then
    echo "$3 differs (expected $(wc -l <"$1") lines, got $(wc -l <"$2")):"
    diff "$1" "$2" | head -20
    return 1
  fi
}
# consume everything from the beginning of a topic (or one partition) until the end
consume() { # consume TOPIC FORMAT [extra kcat args]
  local tp="$1" fmt="$2"; shift 2
  timeout 60 "${KCAT[@]}" -C -t "$tp" -o beginning -e -f "$fmt" "$@"
}
gen() { # gen N TAG -> "key-i=TAG-value-i-xxx" lines
  local n="$1" tag="$2"
  python3 -c "
import sys
for i in range($n):
    sys.stdout.write(f'key-{i%50}={sys.argv[1]}-value-{i}-' + 'x' * (i % 97) + '\n')" "$tag"
}

# librdkafka 2.0 silently stops compressing when it dislikes the advertised API versions
# (KAFKA-18659): check the codec of the batches the broker stored, not just the round trip. The
# codec, not a size ratio: when kcat reaches the end of its input before the new topic's metadata
# arrives, it is already flushing, and librdkafka moves the waiting records to the partition one
# at a time while its broker thread sends whatever is there, so a run may store anything from one
# batch to hundreds of one-record ones (seen against Kafka 4.1.1: 20 batches in an idle run, and
# under test-all's load enough that snappy stored 50 kB for 72 kB of input). A one-record batch
# that snappy does not shrink goes uncompressed, so the check is that none is stored under
# another codec and some under this one.
stored_compressed() { # TOPIC PARTITION CODEC
  [[ -n "${FJORD_TEST_DATA_DIR:-}" ]] || return 0
  find "$FJORD_TEST_DATA_DIR" -path "*/$1-$2/*.log" -type f -print0 | python3 -c '
import struct, sys
codec = ["none", "gzip", "snappy", "lz4", "zstd"].index(sys.argv[1])
counts = {}
for path in sys.stdin.read().split("\0"):
    if not path:
        continue
    data = open(path, "rb").read()
    at = 0
    while at + 23 <= len(data):
        (length,) = struct.unpack_from(">i", data, at + 8)
        if length == 0:
            break  # a preallocated tail
        (attributes,) = struct.unpack_from(">h", data, at + 21)
        counts[attributes & 7] = counts.get(attributes & 7, 0) + 1
        at += 12 + length
names = {["none", "gzip", "snappy", "lz4", "zstd"][c]: n for c, n in sorted(counts.items())}
others = set(counts) - {0, codec}
if not counts or others or counts.get(codec, 0) == 0:
    sys.exit(f"-z {sys.argv[1]}: stored batches by codec {names}")
' "$3"
}

# ------------------------------------------------------------------ tests ----
metadata_lists_broker_and_topic() {
  local tp; tp="$(topic meta)"
  echo "hello" | "${KCAT[@]}" -P -t "$tp" || { echo "produce failed"; return 1; }
  local md; md="$(timeout 30 "${KCAT[@]}" -L)" || { echo "kcat -L failed"; return 1; }
  grep -q " 1 brokers:" <<<"$md" || { echo "expected 1 broker in: $md"; return 1; }
  grep -qE "broker [0-9]+ at ${B}" <<<"$md" || { echo "expected 'broker N at $B' in: $md"; return 1; }
  grep -q "topic \"$tp\" with 4 partitions" <<<"$md" || { echo "expected $tp with 4 partitions (auto-created, num.partitions=4) in: $md"; return 1; }
  local one; one="$(timeout 30 "${KCAT[@]}" -L -t "$tp")" || { echo "kcat -L -t failed"; return 1; }
  for p in 0 1 2 3; do
    grep -qE "partition $p, leader [0-9]+, replicas: [0-9]+, isrs: [0-9]+" <<<"$one" || { echo "partition $p missing in: $one"; return 1; }
  done
}

# one partition: output must equal input byte for byte, in order
roundtrip_single_partition() { # CODEC ACKS
  local codec="$1" acks="$2" tp; tp="$(topic "p0-$codec")"
  gen 1000 "$codec" >"$WORK/in.$tp"
  local z=(); [[ "$codec" != none ]] && z=(-z "$codec")
  "${KCAT[@]}" -P -t "$tp" -p 0 -K = "${z[@]}" -X "acks=$acks" <"$WORK/in.$tp" || { echo "produce failed"; return 1; }
  # with acks=0 the producer may exit before the broker has appended: give it a moment
  local try
  for try in 1 2 3 4 5 6 7 8 9 10; do
    consume "$tp" '%k=%s\n' -p 0 >"$WORK/out.$tp" || { echo "consume failed"; return 1; }
    [[ "$acks" != 0 || $(wc -l <"$WORK/out.$tp") -ge 1000 ]] && break
    sleep 0.5
  done
  same "$WORK/in.$tp" "$WORK/out.$tp" "consumed records" || return 1
  stored_compressed "$tp" 0 "$codec" || return 1
  # offsets are 0..n-1 with no gap
  consume "$tp" '%o\n' -p 0 >"$WORK/off.$tp" || { echo "consume offsets failed"; return 1; }
  seq 0 999 >"$WORK/seq.$tp"
  same "$WORK/seq.$tp" "$WORK/off.$tp" "offsets" || return 1
}

# keyed over 4 partitions: same multiset, each key in one partition, per-partition order kept
roundtrip_keyed() { # CODEC
  local codec="$1" tp; tp="$(topic "keyed-$codec")"
  gen 2000 "$codec" >"$WORK/in.$tp"
  local z=(); [[ "$codec" != none ]] && z=(-z "$codec")
  "${KCAT[@]}" -P -t "$tp" -K = "${z[@]}" <"$WORK/in.$tp" || { echo "produce failed"; return 1; }
  consume "$tp" '%p\t%o\t%k=%s\n' >"$WORK/out.$tp" || { echo "consume failed"; return 1; }
  python3 - "$WORK/in.$tp" "$WORK/out.$tp" <<'EOF'
import sys
inp = open(sys.argv[1]).read().splitlines()
rows = [l.split("\t", 2) for l in open(sys.argv[2]).read().splitlines()]
assert len(rows) == len(inp), f"consumed {len(rows)} records, produced {len(inp)}"
parts = {}
for p, o, kv in rows:
    parts.setdefault(int(p), []).append((int(o), kv))
assert sorted(parts) == [0, 1, 2, 3], f"records in partitions {sorted(parts)}"
owner = {}
for p, recs in parts.items():
    assert [o for o, _ in recs] == list(range(len(recs))), f"partition {p}: offsets not 0..n-1"
    keys = {kv.split("=", 1)[0] for _, kv in recs}
    for k in keys:
        assert k not in owner, f"key {k} in partitions {owner[k]} and {p}"
        owner[k] = p
    want = [l for l in inp if l.split("=", 1)[0] in keys]
    assert [kv for _, kv in recs] == want, f"partition {p}: records differ from input order"
EOF
}

headers_roundtrip() {
  local tp; tp="$(topic hdr)"
  printf 'k1=v1\nk2=v2\n' | "${KCAT[@]}" -P -t "$tp" -p 1 -K = -H trace=abc -H n=42 || { echo "produce failed"; return 1; }
  consume "$tp" '%k=%s|%h\n' -p 1 >"$WORK/out.$tp" || { echo "consume failed"; return 1; }
  printf 'k1=v1|trace=abc,n=42\nk2=v2|trace=abc,n=42\n' >"$WORK/exp.$tp"
  same "$WORK/exp.$tp" "$WORK/out.$tp" "records with headers" || return 1
}

null_key_and_empty_value() {
  local tp; tp="$(topic null)"
  printf 'plain-1\nplain-2\n' | "${KCAT[@]}" -P -t "$tp" -p 2 || { echo "produce failed"; return 1; }
  consume "$tp" '[%K]%k|%s\n' -p 2 >"$WORK/out.$tp" || { echo "consume failed"; return 1; }
  # %K is the key length, -1 for a null key
  printf '[-1]|plain-1\n[-1]|plain-2\n' >"$WORK/exp.$tp"
  same "$WORK/exp.$tp" "$WORK/out.$tp" "null-key records" || return 1
}

offsets_start_in_the_middle() {
  local tp; tp="$(topic mid)"
  seq 0 99 | sed 's/^/v/' | "${KCAT[@]}" -P -t "$tp" -p 3 || { echo "produce failed"; return 1; }
  timeout 30 "${KCAT[@]}" -C -t "$tp" -p 3 -o 90 -e -f '%o:%s\n' >"$WORK/out.$tp" || { echo "consume failed"; return 1; }
  for i in $(seq 90 99); do echo "$i:v$i"; done >"$WORK/exp.$tp"
  same "$WORK/exp.$tp" "$WORK/out.$tp" "records from offset 90" || return 1
  timeout 30 "${KCAT[@]}" -C -t "$tp" -p 3 -o -5 -e -f '%o\n' >"$WORK/tail.$tp" || { echo "consume -o -5 failed"; return 1; }
  seq 95 99 >"$WORK/exp2.$tp"
  same "$WORK/exp2.$tp" "$WORK/tail.$tp" "last 5 offsets" || return 1
}

query_offsets_by_time() {
  local tp; tp="$(topic q)"
  local base=$(( $(date +%s) * 1000 - 3600000 ))
  # records get the producer's current time: an hour ago finds the first record,
  # an hour ahead finds none (-1)
  seq 0 9 | sed 's/^/v/' | "${KCAT[@]}" -P -t "$tp" -p 0 || { echo "produce failed"; return 1; }
  local first; first="$(timeout 30 "${KCAT[@]}" -Q -t "$tp:0:$base")" || { echo "kcat -Q failed"; return 1; }
  grep -qE "\[0\] +offset +0$" <<<"$first" || { echo "expected offset 0 at $base, got: $first"; return 1; }
  local later=$(( base + 7200000 ))
  local none; none="$(timeout 30 "${KCAT[@]}" -Q -t "$tp:0:$later")" || { echo "kcat -Q failed"; return 1; }
  grep -qE "\[0\] +offset +-1$" <<<"$none" || { echo "expected offset -1 after the last record, got: $none"; return 1; }
}

large_messages() {
  local tp; tp="$(topic big)"
  python3 -c "
import sys
for i in range(5): sys.stdout.write(f'k{i}=' + chr(97 + i) * 200000 + '\n')" >"$WORK/in.$tp"
  "${KCAT[@]}" -P -t "$tp" -p 0 -K = -z lz4 <"$WORK/in.$tp" || { echo "produce failed"; return 1; }
  consume "$tp" '%k=%s\n' -p 0 >"$WORK/out.$tp" || { echo "consume failed"; return 1; }
  same "$WORK/in.$tp" "$WORK/out.$tp" "200 kB records" || return 1
}

t "kcat -L lists broker and auto-created topic" metadata_lists_broker_and_topic
for codec in none gzip snappy lz4 zstd; do
  t "kcat -P -z $codec -K: / -C exact, one partition, acks=all" roundtrip_single_partition "$codec" all
done
t "kcat -P -z gzip, acks=1" roundtrip_single_partition gzip 1
t "kcat -P -z snappy, acks=0" roundtrip_single_partition snappy 0
for codec in none gzip snappy lz4 zstd; do
  t "kcat keyed over 4 partitions, -z $codec" roundtrip_keyed "$codec"
done
t "kcat headers -H / %h" headers_roundtrip
t "kcat null keys" null_key_and_empty_value
t "kcat -o 90 and -o -5" offsets_start_in_the_middle
t "kcat 200 kB records, lz4" large_messages
t "kcat -Q offsets by timestamp" query_offsets_by_time

echo
if ((fail > 0)); then
  echo "failed: ${failed_names[*]}"
fi
echo "kcat: $pass passed, $fail failed"
((fail == 0))
