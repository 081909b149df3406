#!/usr/bin/env bash
# Runs every test. It installs and starts what the tests need, so a fresh machine
# needs nothing but Go: this is the README's test command and what CI runs.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== go vet"
go vet ./...

echo "== staticcheck"
# A Go tool dependency (go.mod's tool line), so its version is pinned.
go tool staticcheck ./...

echo "== redis-server, for the shared store tests"
# Tests start their own redis-server processes on free loopback ports; they need
# the binary, from Debian's packages.
if ! command -v redis-server >/dev/null; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
		# The package starts a system instance; the tests do not use it.
		(service redis-server stop || systemctl stop redis-server) >/dev/null 2>&1 || true
	else
		echo "redis-server is missing and cannot be installed here: the Redis tests will be skipped"
	fi
fi

echo "== curl, for the TLS listener tests"
# curl (OpenSSL) is the non-Go client that checks lastmile's TLS listeners against
# a test CA; from Debian's packages, only when missing.
if ! command -v curl >/dev/null; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq curl >/dev/null
	else
		echo "curl is missing and cannot be installed here: the curl TLS test will be skipped"
	fi
fi

echo "== xsltproc, for the XSLT comparison test"
# internal/xslt's TestAgainstXsltproc runs stylesheets through libxslt's
# xsltproc too and compares the outputs; from Debian's packages, only when
# missing.
if ! command -v xsltproc >/dev/null; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq xsltproc >/dev/null
	else
		echo "xsltproc is missing and cannot be installed here: the XSLT comparison test will be skipped"
	fi
fi

echo "== node, for the @azure/identity client tests and the Azure Storage emulator"
# The managed identity endpoints are tested with Microsoft's Node client too, and
# the gateway's tokens with Microsoft's Azure Storage emulator (Azurite). Install
# Node from Debian's packages when it is missing, then each test project's locked
# dependencies (again only when its lock file changed).
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
	else
		echo "node and npm are missing and cannot be installed here: the Node client tests will be skipped"
	fi
fi
if command -v npm >/dev/null; then
	for node_dir in internal/identity/agent/testdata/node internal/server/testdata/azurite; do
		if ! cmp -s "$node_dir/package-lock.json" "$node_dir/node_modules/.lastmile-lock"; then
			(cd "$node_dir" && npm ci --no-audit --no-fund --loglevel=error && cp package-lock.json node_modules/.lastmile-lock)
		fi
	done
fi

echo "== python3-azure and python3-msal, for the Python client tests"
# The managed identity endpoints are tested with Microsoft's Python clients as Debian
# packages them. They install for /usr/bin/python3, which the tests run (not a python3
# earlier on PATH).
if ! /usr/bin/python3 -c 'import azure.identity, msal' >/dev/null 2>&1; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-azure python3-msal >/dev/null
	else
		echo "python3-azure and python3-msal are missing and cannot be installed here: the Python client tests will be skipped"
	fi
fi

echo "== chromium, for the console's browser tests"
# The web console is tested in a real headless Chromium driven by chromedp; from
# Debian's packages, only when missing.
if ! command -v chromium >/dev/null; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
	else
		echo "chromium is missing and cannot be installed here: the console's browser test will be skipped"
	fi
fi

echo "== go test"
# -race catches data races in the concurrent paths (token cache, snapshot swaps).
# The JSON stream goes through scripts/testreport, which prints each package's
# result as it finishes, then every failed test's full output, a summary, and
# every skipped test with its reason. Both exit non-zero on a failure, and
# pipefail (above) keeps that status.
# -timeout: deploy builds lastmile as the Dockerfile does (-trimpath), which on a
# cold build cache compiles every dependency again and can outlast the default 10m.
# -artifacts keeps what tests save with t.ArtifactDir (the console's screenshots)
# under test-artifacts/_artifacts/, one folder per test; the test's output names it.
rm -rf test-artifacts && mkdir -p test-artifacts
go test -race -count=1 -timeout 30m -artifacts -outputdir "$PWD/test-artifacts" -json ./... | go run ./scripts/testreport
