#!/usr/bin/env bash
# Measures the service under load as docs/benchmarks.md reports it: release build, PostgreSQL,
# INSTANCES instances on one fresh database seeded with the demo, the load tool on the same
# machine: complete flows for SECONDS_RUN seconds, then the token endpoint alone.
#   INSTANCES=1 CONCURRENCY=64 SECONDS_RUN=20 CODES=3000 scripts/load.sh
# LOAD_DATABASE=NAME measures on an existing database instead (kept; the demo added if missing:
# e.g. one filled by `aidants-connect volume`, with the AC_KEYS_DIR it was filled with); AC_BIN
# names another build of the service. KEEP_LOGS=DIR keeps the instances' logs there.
set -euo pipefail
cd "$(dirname "$0")/.."
pg="${AC_LOAD_POSTGRES:-postgres://postgres@127.0.0.1:5432}"
instances="${INSTANCES:-1}"
concurrency="${CONCURRENCY:-64}"
seconds="${SECONDS_RUN:-20}"
codes="${CODES:-3000}"
db="${LOAD_DATABASE:-ac_load_$$}"
bin="${AC_BIN:-target/release/aidants-connect}"
work="$(mktemp -d)"
pids=()

cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ -n "${LOAD_DATABASE:-}" ] || psql "$pg/postgres" -qc "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
  [ -n "${KEEP_LOGS:-}" ] && cp "$work"/serve-*.log "$KEEP_LOGS"/ 2>/dev/null; rm -rf "$work"
}
trap cleanup EXIT INT TERM

if [ -n "${AC_BIN:-}" ]; then cargo build --release -q -p loadtest; else cargo build --release -q -p aidants-connect -p loadtest; fi
[ -n "${LOAD_DATABASE:-}" ] || psql "$pg/postgres" -qc "CREATE DATABASE $db"
# The database is on loopback: no TLS to it (libpq would otherwise negotiate it with Debian's
# default server), as on a single host; DB_OPTIONS="" measures with it.
export AC_DATABASE_URL="$pg/$db?${DB_OPTIONS-sslmode=disable}" AC_KEYS_DIR="${AC_KEYS_DIR:-$work/keys}" RUST_LOG="${RUST_LOG:-warn}"
"$bin" migrate >/dev/null
"$bin" demo >/dev/null

targets=()
for i in $(seq 1 "$instances"); do
  port=$((8100 + i))
  AC_BIND="127.0.0.1:$port" "$bin" serve >"$work/serve-$i.log" 2>&1 &
  pids+=("$!")
  targets+=(--url "http://127.0.0.1:$port/" --server-pid "$!")
  for _ in $(seq 1 100); do
    curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break
    sleep 0.1
  done
done

code() { "$bin" otp-code; }
# CPU seconds spent by every PostgreSQL process so far (the pool's backends live through a run).
pg_cpu() {
  local ticks=0 pid
  for pid in $(pgrep -x postgres); do
    ticks=$((ticks + $(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null || echo 0)))
  done
  awk -v t="$ticks" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", t / hz }'
}
measure() {
  local before after
  before="$(pg_cpu)"
  "$@"
  after="$(pg_cpu)"
  echo "PostgreSQL CPU over the run (warm-up included): $(awk -v a="$after" -v b="$before" 'BEGIN { printf "%.2f", a - b }') s"
}
echo "== $instances instance(s), PostgreSQL, $concurrency virtual users"
measure target/release/loadtest flows "${targets[@]}" --concurrency "$concurrency" \
  --seconds "$seconds" --code "$(code)"
# A card's code is single use: the next sign-in waits for the next one.
sleep 31
measure target/release/loadtest tokens "${targets[@]}" --concurrency "$concurrency" \
  --codes "$codes" --code "$(code)"
