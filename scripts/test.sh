#!/usr/bin/env bash
# Runs every test. It installs and starts what the tests need, so a fresh machine
# needs nothing but Go: this is the README's test command and what CI runs.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== go vet"
go vet ./...

echo "== go test"
# -race catches data races in the concurrent paths (token cache, snapshot swaps).
go test -race -count=1 ./...
