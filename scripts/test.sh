#!/usr/bin/env bash
# Runs every test: unit tests and the end-to-end tests on SQLite and PostgreSQL.
# PostgreSQL tests create and drop their own databases on AC_TEST_POSTGRES_URL
# (default: the local server, user postgres).
set -euo pipefail
cd "$(dirname "$0")/.."
export AC_TEST_POSTGRES_URL="${AC_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast "$@"
  cargo test --doc -p store
else
  cargo test --workspace --no-fail-fast "$@"
fi
