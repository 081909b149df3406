#!/usr/bin/env bash
# Measures the CPU time each proxy spends per proxied request, side by side on
# one machine: nginx, HAProxy, a bare Go httputil.ReverseProxy, and lastmile's
# pass-through and managed-identity paths.
#
# Each proxy runs pinned to CPU 0 with one worker (GOMAXPROCS=1 for Go); the
# backend (nginx returning 16 bytes) and wrk run on CPU 1. CPU per request is
# the proxy process's user+system time during the run divided by the requests
# wrk completed, so it does not depend on how busy CPU 1 is.
#
# A shared VM's speed drifts, by half or more within an hour, so every target is
# measured in CPU_ROUNDS rounds taken in turns, and the table gives each
# target's median (with every round's CPU figure beside it). Before the
# latency rounds it measures how often the machine itself stops each CPU
# (scripts/benchstall): a latency target below the machine's own stalls cannot
# be judged on it.
#
#   scripts/bench-peers.sh                  # 3 rounds of 5 s per target, 64 connections
#   DURATION=30s CONNS=256 scripts/bench-peers.sh
#   TARGETS="lastmile-mi revproxy" scripts/bench-peers.sh
#   CPU_ROUNDS=5 ROUNDS=5 scripts/bench-peers.sh  # more rounds of the CPU and latency comparisons
#   ROUNDS=0 scripts/bench-peers.sh         # the CPU table alone
#   ACCESS_LOG=true TARGETS=lastmile-mi scripts/bench-peers.sh  # with lastmile's access log
#
# It installs nginx, haproxy and wrk from Debian's packages when they are
# missing (as root). Ports 18080-18095 on 127.0.0.1 must be free.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-5s}
CONNS=${CONNS:-64}
CPU_ROUNDS=${CPU_ROUNDS:-3}
ROUNDS=${ROUNDS:-3}
TARGETS=${TARGETS:-"nginx haproxy revproxy lastmile-pass lastmile-mi"}

missing=()
for bin in nginx haproxy wrk taskset; do
	command -v "$bin" >/dev/null || [ -x "/usr/sbin/$bin" ] || missing+=("$bin")
done
if [ ${#missing[@]} -gt 0 ]; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx haproxy wrk util-linux >/dev/null
	else
		echo "missing: ${missing[*]}; install nginx, haproxy and wrk" >&2
		exit 1
	fi
fi
export PATH=$PATH:/usr/sbin
if [ "$(nproc)" -lt 2 ]; then
	echo "this needs two CPUs: one for the proxy, one for the backend and wrk" >&2
	exit 1
fi

work=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

go build -o "$work/lastmile" ./cmd/lastmile
go build -o "$work/revproxy" ./scripts/benchproxy
go build -o "$work/benchload" ./scripts/benchload
go build -o "$work/benchstall" ./scripts/benchstall

# The backend: nginx on CPU 1, 16 bytes per response.
mkdir -p "$work/be" "$work/px"
cat >"$work/be/nginx.conf" <<EOF
worker_processes 1;
pid $work/be/nginx.pid;
error_log $work/be/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $work/be; proxy_temp_path $work/be; fastcgi_temp_path $work/be; uwsgi_temp_path $work/be; scgi_temp_path $work/be;
  keepalive_requests 1000000;
  server { listen 127.0.0.1:18080; location / { default_type text/plain; return 200 "0123456789abcdef"; } }
}
EOF
taskset -c 1 nginx -c "$work/be/nginx.conf" -g 'daemon off;' >"$work/backend.log" 2>&1 &
pids+=($!)

# nginx as a proxy, one worker on CPU 0.
cat >"$work/px/nginx.conf" <<EOF
worker_processes 1;
pid $work/px/nginx.pid;
error_log $work/px/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $work/px; proxy_temp_path $work/px; fastcgi_temp_path $work/px; uwsgi_temp_path $work/px; scgi_temp_path $work/px;
  keepalive_requests 1000000;
  upstream be { server 127.0.0.1:18080; keepalive 128; }
  server {
    listen 127.0.0.1:18081;
    location / { proxy_pass http://be; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
}
EOF

cat >"$work/haproxy.cfg" <<EOF
global
  nbthread 1
  maxconn 4096
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
  option http-keep-alive
  http-reuse always
frontend fe
  bind 127.0.0.1:18082
  default_backend be
backend be
  server s1 127.0.0.1:18080
EOF

# lastmile: a pass-through API, and the managed identity path (subscription
# key, set-header, a cached token, forward).
cfg=$work/cfg
mkdir -p "$cfg/apis/pass" "$cfg/apis/mi" "$cfg/products/bench/apis/mi" "$cfg/subscriptions/bench"
# The access log is off, as nginx's and HAProxy's are here; ACCESS_LOG=true
# appends lastmile's to a file, to measure what it costs.
cat >"$cfg/lastmile.yaml" <<EOF
telemetry:
  accessLog:
    enabled: ${ACCESS_LOG:-false}
    file: $work/access.log
identity:
  resources:
    - id: api://bench
      roles: [Bench.Read]
      assignments:
        system: [Bench.Read]
EOF
echo '{"properties":{"path":"pass","serviceUrl":"http://127.0.0.1:18080","subscriptionRequired":false}}' >"$cfg/apis/pass/apiInformation.json"
echo '{"properties":{"path":"mi","serviceUrl":"http://127.0.0.1:18080","subscriptionRequired":true}}' >"$cfg/apis/mi/apiInformation.json"
cat >"$cfg/apis/mi/policy.xml" <<'EOF'
<policies>
  <inbound>
    <base />
    <set-header name="X-Request-Source" exists-action="override"><value>lastmile</value></set-header>
    <authentication-managed-identity resource="api://bench" />
  </inbound>
  <backend><base /></backend>
  <outbound><base /></outbound>
  <on-error><base /></on-error>
</policies>
EOF
echo '{"properties":{"displayName":"Bench","state":"published","subscriptionRequired":true}}' >"$cfg/products/bench/productInformation.json"
echo '{}' >"$cfg/products/bench/apis/mi/productApiInformation.json"
echo '{"properties":{"scope":"/products/bench","state":"active","primaryKey":"bench-key","secondaryKey":"bench-key-2"}}' >"$cfg/subscriptions/bench/subscriptionInformation.json"

# start NAME: starts a target on CPU 0 and prints its pid. Its output goes to
# a log file: an inherited stdout would keep $(start ...) waiting.
start() {
	local log=$work/$1.log
	case $1 in
	nginx) taskset -c 0 nginx -c "$work/px/nginx.conf" -g 'daemon off;' >"$log" 2>&1 & ;;
	haproxy) taskset -c 0 haproxy -f "$work/haproxy.cfg" -db >"$log" 2>&1 & ;;
	revproxy) GOMAXPROCS=1 taskset -c 0 "$work/revproxy" -listen 127.0.0.1:18083 -backend http://127.0.0.1:18080 >"$log" 2>&1 & ;;
	lastmile) GOMAXPROCS=1 taskset -c 0 "$work/lastmile" serve --config "$cfg" --state "$work/state" \
		--listen 127.0.0.1:18084 --identity-listen 127.0.0.1:18090 --log-level error >"$log" 2>&1 & ;;
	esac
	echo $!
}

# cputicks PID: user+system clock ticks of the process and its children (nginx's
# worker is its master's child), all threads.
# With a second argument "user" or "system", only that part.
cputicks() {
	local total=0 p field='$14 + $15'
	case ${2:-} in user) field='$14' ;; system) field='$15' ;; esac
	for p in "$1" $(pgrep -P "$1" || true); do
		total=$((total + $(awk "{print $field}" "/proc/$p/stat")))
	done
	echo "$total"
}

wait_up() {
	for _ in $(seq 100); do
		if curl -fsS -o /dev/null "$@" 2>/dev/null; then return 0; fi
		sleep 0.1
	done
	echo "not answering: $*" >&2
	return 1
}

hz=$(getconf CLK_TCK)
results=()
latencies=()
# measure PID URL [HEADER]: one closed-loop run; sets m_us, m_user, m_rps,
# m_p99 and m_errs.
measure() {
	local pid=$1 url=$2 hdr=${3:-}
	local args=(-t1 "-c$CONNS" --latency)
	[ -n "$hdr" ] && args+=(-H "$hdr")
	wait_up ${hdr:+-H "$hdr"} "$url"
	taskset -c 1 wrk "${args[@]}" -d2s "$url" >/dev/null # warm up: connections, token cache
	local before after out
	before=$(cputicks "$pid")
	local ubefore uafter
	ubefore=$(cputicks "$pid" user)
	out=$(taskset -c 1 wrk "${args[@]}" "-d$DURATION" "$url")
	after=$(cputicks "$pid")
	uafter=$(cputicks "$pid" user)
	local reqs rps p99
	reqs=$(awk '/requests in/ {print $1}' <<<"$out")
	rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
	p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
	local errs
	errs=$(awk '/Non-2xx|Socket errors/ {print}' <<<"$out" | tr '\n' ' ')
	m_us=$(awk -v t=$((after - before)) -v hz="$hz" -v n="$reqs" 'BEGIN { printf "%.1f", t / hz * 1e6 / n }')
	m_user=$(awk -v t=$((uafter - ubefore)) -v hz="$hz" -v n="$reqs" 'BEGIN { printf "%.1f", t / hz * 1e6 / n }')
	m_rps=${rps%.*} m_p99=$p99 m_errs=$errs
}

# latency URL HEADER RATE: open-loop p50/p99 at RATE requests/s, from CPU 1.
latency() {
	taskset -c 1 "$work/benchload" -url "$1" ${2:+-H "$2"} -rate "$3" -duration 10s -conns "$CONNS"
}

# field NAME LINE: the value after NAME in one of benchload's summary lines;
# ms turns a duration (µs, ms or s) into milliseconds.
field() { awk -v k="$1" '{ for (i = 1; i < NF; i++) if ($i == k) print $(i + 1) }' <<<"$2"; }
ms() { awk -v v="$1" 'BEGIN { if (v ~ /(µs|us)$/) print v / 1000; else if (v ~ /ms$/) print v + 0; else print v * 1000 }'; }

# saturation NAME: a short closed-loop run of lastmile's target NAME; prints
# its requests per second.
saturation() {
	local pid h out
	pid=$(start lastmile)
	h=$(header "$1")
	wait_up ${h:+-H "$h"} "$(url "$1")"
	taskset -c 1 wrk -t1 "-c$CONNS" ${h:+-H "$h"} -d1s "$(url "$1")" >/dev/null
	out=$(taskset -c 1 wrk -t1 "-c$CONNS" ${h:+-H "$h"} -d4s "$(url "$1")")
	kill "$pid"; wait "$pid" 2>/dev/null || true
	awk '/Requests\/sec/ { printf "%d", $2 }' <<<"$out"
}

# url NAME: the URL and header that measure a target.
url() {
	case $1 in
	nginx) echo "http://127.0.0.1:18081/x" ;;
	haproxy) echo "http://127.0.0.1:18082/x" ;;
	revproxy) echo "http://127.0.0.1:18083/x" ;;
	lastmile-pass) echo "http://127.0.0.1:18084/pass/x" ;;
	lastmile-mi) echo "http://127.0.0.1:18084/mi/x" ;;
	esac
}
header() { [ "$1" = lastmile-mi ] && echo "Ocp-Apim-Subscription-Key: bench-key" || true; }
proc() { case $1 in lastmile-*) echo lastmile ;; *) echo "$1" ;; esac; }
declare -A names=([nginx]="nginx (1 worker)" [haproxy]="HAProxy (1 thread)" [revproxy]="Go httputil.ReverseProxy"
	[lastmile-pass]="lastmile, pass-through" [lastmile-mi]="lastmile, key + set-header + MI token")

# median: the median of the numbers on stdin, one per line (the lower of the
# middle two when there is an even count).
median() { grep . | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

sleep 0.5
for t in $TARGETS; do
	[ -n "${names[$t]:-}" ] || { echo "unknown target $t" >&2; exit 2; }
done
declare -A r_us=() r_user=() r_rps=() r_p99=() r_errs=()
for r in $(seq "$CPU_ROUNDS"); do
	for t in $TARGETS; do
		pid=$(start "$(proc "$t")")
		measure "$pid" "$(url "$t")" "$(header "$t")"
		kill "$pid"; wait "$pid" 2>/dev/null || true
		r_us[$t]+="$m_us " r_user[$t]+="$m_user " r_rps[$t]+="$m_rps " r_p99[$t]+="$(ms "$m_p99") " r_errs[$t]+="$m_errs"
	done
done
sat=0
for t in $TARGETS; do
	rps=$(tr ' ' '\n' <<<"${r_rps[$t]}" | median)
	# Against nginx: the median of the ratios within each round, whose runs
	# are closer in time than the rounds are, so a slow spell moves fewer.
	vs=""
	if [ -n "${r_us[nginx]:-}" ]; then
		vs=$(paste -d' ' <(tr ' ' '\n' <<<"${r_us[$t]}" | grep .) <(tr ' ' '\n' <<<"${r_us[nginx]}" | grep .) |
			awk '{ printf "%.2f\n", $1 / $2 }' | median)
	fi
	results+=("$(printf '| %-34s | %8s | %8s | %6s | %10s | %8s | %s' "${names[$t]}" "$(tr ' ' '\n' <<<"${r_us[$t]}" | median)" \
		"$(tr ' ' '\n' <<<"${r_user[$t]}" | median)" "${vs:--}" "$rps" "$(tr ' ' '\n' <<<"${r_p99[$t]}" | median)ms" "${r_us[$t]% }${r_errs[$t]:+; ${r_errs[$t]}}")")
	# The managed-identity path sets the latency runs' rate when it is measured.
	case $t in lastmile-mi) sat=$rps satt=$t ;; lastmile-pass) [ "$sat" -gt 0 ] || { sat=$rps satt=$t; } ;; esac
done

# Open-loop latency at half of lastmile's saturation (its managed-identity
# path when measured, else pass-through). A shared VM's speed drifts, by half
# or more within an hour, so each round measures the saturation again
# and runs every target at half of it, or at half of the 10-second figure
# above when that is lower: a 4-second run in a fast spell must not set a
# rate the next minute cannot keep. The targets take turns, so that a slow
# spell falls on one round of each rather than on one target. The latency a
# proxy adds is its p99 less the backend's in the same round; the summary
# gives its median over the rounds. Each target is warmed up for 2 s first,
# as for the CPU table: a process started a moment before would otherwise
# spend the first part of its 10 s opening connections and growing its heap.
if [ "$sat" -gt 0 ] && [ "$ROUNDS" -gt 0 ]; then
	# The machine's own stalls, with both CPUs busy as they are under load: no
	# proxy can answer in under 1 ms while its CPU is taken away.
	latencies+=("the machine itself, both CPUs busy (scripts/benchstall):")
	taskset -c 1 "$work/benchstall" -name "  CPU 1" >"$work/stall1" &
	latencies+=("$(taskset -c 0 "$work/benchstall" -name "  CPU 0")")
	wait $!
	latencies+=("$(cat "$work/stall1")")
	declare -A added=() halfcpu=()
	for r in $(seq "$ROUNDS"); do
		now=$(saturation "$satt")
		rate=$(($(( now < sat ? now : sat )) / 2))
		line=$(latency http://127.0.0.1:18080/x "" "$rate")
		base=$(ms "$(field p99 "$line")")
		latencies+=("round $r at $rate requests/s ($satt saturated at $now/s just before):")
		latencies+=("$(printf '  %-38s p99 %8s  %5s over 1 ms' "backend directly" "$(field p99 "$line")" "$(field over-1ms "$line")")")
		for t in $TARGETS; do
			pid=$(start "$(proc "$t")")
			h=$(header "$t")
			wait_up ${h:+-H "$h"} "$(url "$t")"
			# Warm up as for the CPU table (connections, token cache, a heap
			# grown to its working size): the rounds measure steady state.
			taskset -c 1 wrk -t1 "-c$CONNS" ${h:+-H "$h"} -d2s "$(url "$t")" >/dev/null
			before=$(cputicks "$pid")
			line=$(latency "$(url "$t")" "$h" "$rate")
			after=$(cputicks "$pid")
			kill "$pid"; wait "$pid" 2>/dev/null || true
			a=$(awk -v p="$(ms "$(field p99 "$line")")" -v b="$base" 'BEGIN { printf "%.2f", p - b }')
			added[$t]+="$a "
			# CPU per request at this rate: more than at saturation, since
			# a proxy that is idle between requests pays to sleep and wake.
			c=$(awk -v t=$((after - before)) -v hz="$hz" -v n=$((rate * 10)) 'BEGIN { printf "%.1f", t / hz * 1e6 / n }')
			halfcpu[$t]+="$c "
			latencies+=("$(printf '  %-38s p99 %8s  %5s over 1 ms, adds %sms; CPU %s µs/req' "${names[$t]}" "$(field p99 "$line")" "$(field over-1ms "$line")" "$a" "$c")")
		done
	done
	latencies+=("median p99 added over the rounds, and median CPU per request at the rounds' rates:")
	for t in $TARGETS; do
		latencies+=("$(printf '  %-38s %sms (rounds: %s); CPU %s µs/req (rounds: %s)' "${names[$t]}" \
			"$(tr ' ' '\n' <<<"${added[$t]}" | median)" "${added[$t]% }" \
			"$(tr ' ' '\n' <<<"${halfcpu[$t]}" | median)" "${halfcpu[$t]% }")")
	done
fi
echo
echo "wrk -t1 -c$CONNS -d$DURATION, 16-byte responses; proxy on CPU 0 with one worker, backend and wrk on CPU 1;"
echo "medians of $CPU_ROUNDS rounds taken in turns"
echo
echo "| target                             | CPU µs/req | of it user | × nginx | requests/s | p99      | CPU µs/req in each round; errors"
echo "|------------------------------------|----------|----------|--------|------------|----------|-------"
printf '%s\n' "${results[@]}"
if [ ${#latencies[@]} -gt 0 ]; then
	echo
	echo "Open-loop latency, 10 s per target, $ROUNDS rounds taken in turns (the latency a proxy adds is its p99 less the backend's):"
	printf '%s\n' "${latencies[@]}"
fi
