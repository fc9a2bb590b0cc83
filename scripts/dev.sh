#!/usr/bin/env bash
# Runs Aidants Connect with its embedded defaults (SQLite in data/, dev keys in keys/, demo
# data) and the FranceConnect simulator beside it, so the whole flow can be clicked through.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --bins
target/debug/fc-sim &
sim=$!
trap 'kill "$sim" 2>/dev/null || true' EXIT INT TERM
cat <<'TXT'

  Site de démarche fictif (simulateur FranceConnect) : http://127.0.0.1:8001
  Aidants Connect :                                  http://127.0.0.1:8000
  Espace aidant (créer un mandat) :                  http://127.0.0.1:8000/connexion
  Code de la carte de démonstration :                target/debug/aidants-connect otp-code

TXT
target/debug/aidants-connect dev
