#!/usr/bin/env bash
# Measures the service under load as docs/benchmarks.md reports it: release build, PostgreSQL,
# INSTANCES instances on one fresh database seeded with the demo, the load tool on the same
# machine: complete flows for SECONDS_RUN seconds, then the token endpoint alone.
#   INSTANCES=1 CONCURRENCY=64 SECONDS_RUN=20 CODES=3000 scripts/load.sh
set -euo pipefail
cd "$(dirname "$0")/.."
pg="${AC_LOAD_POSTGRES:-postgres://postgres@127.0.0.1:5432}"
instances="${INSTANCES:-1}"
concurrency="${CONCURRENCY:-64}"
seconds="${SECONDS_RUN:-20}"
codes="${CODES:-3000}"
db="ac_load_$$"
work="$(mktemp -d)"
pids=()

cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  psql "$pg/postgres" -qc "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

cargo build --release -q -p aidants-connect -p loadtest
psql "$pg/postgres" -qc "CREATE DATABASE $db"
# The database is on loopback: no TLS to it (libpq would otherwise negotiate it with Debian's
# default server), as on a single host; DB_OPTIONS="" measures with it.
export AC_DATABASE_URL="$pg/$db?${DB_OPTIONS-sslmode=disable}" AC_KEYS_DIR="$work/keys" RUST_LOG="${RUST_LOG:-warn}"
target/release/aidants-connect migrate >/dev/null
target/release/aidants-connect demo >/dev/null

targets=()
for i in $(seq 1 "$instances"); do
  port=$((8100 + i))
  AC_BIND="127.0.0.1:$port" target/release/aidants-connect serve >"$work/serve-$i.log" 2>&1 &
  pids+=("$!")
  targets+=(--url "http://127.0.0.1:$port/" --server-pid "$!")
  for _ in $(seq 1 100); do
    curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break
    sleep 0.1
  done
done

code() { target/release/aidants-connect otp-code; }
echo "== $instances instance(s), PostgreSQL, $concurrency virtual users"
target/release/loadtest flows "${targets[@]}" --concurrency "$concurrency" --seconds "$seconds" \
  --code "$(code)"
# A card's code is single use: the next sign-in waits for the next one.
sleep 31
target/release/loadtest tokens "${targets[@]}" --concurrency "$concurrency" --codes "$codes" \
  --code "$(code)"
