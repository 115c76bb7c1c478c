#!/usr/bin/env bash
# CI check of backlogd's Prometheus side, run by .ci/run as root on Debian
# (CI=true, no stdin). It:
#   1. installs Debian's prometheus package (promtool, and a server binary
#      it starts itself on loopback) without letting the package start its
#      own service;
#   2. checks and unit-tests the alert rules, and parses every query of the
#      Grafana dashboard with promtool;
#   3. builds and starts a real daemon on a temporary copy of
#      configs/backlogd.yaml, waits for /readyz, lints a scrape of /metrics
#      with `promtool check metrics`, checks that every metric the rules and
#      the dashboard use exists, and that every log line is one JSON event;
#   4. runs a throwaway Prometheus on loopback that scrapes the daemon and
#      evaluates the rules, and runs every dashboard query against it;
#   5. sends SIGTERM and requires exit status 0.
# It leaves no process running and nothing in the repository.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PATH:/usr/local/go/bin
repo=$(pwd)
log() { printf -- '-- %s\n' "$*"; }
fail() { printf 'ci-prometheus: FAIL: %s\n' "$*" >&2; exit 1; }

work=$(mktemp -d /tmp/backlogd-ci-prom.XXXXXX)
daemon_pid="" prom_pid="" policy_created=""
cleanup() {
	for p in $prom_pid $daemon_pid; do
		kill -KILL "$p" 2>/dev/null || true
	done
	if [ -n "$policy_created" ]; then rm -f /usr/sbin/policy-rc.d; fi
	rm -rf "$work"
}
trap cleanup EXIT

# --- 1. promtool -------------------------------------------------------
if ! dpkg -s prometheus >/dev/null 2>&1 || ! command -v curl >/dev/null || ! command -v jq >/dev/null; then
	[ "$(id -u)" = 0 ] || fail "run as root to install Debian's prometheus package"
	# policy-rc.d exiting 101 tells invoke-rc.d (the package's postinst)
	# not to start the service; we start our own server below.
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod +x /usr/sbin/policy-rc.d
		policy_created=1
	fi
	export DEBIAN_FRONTEND=noninteractive
	log "installing Debian's prometheus package"
	apt-get update -qq </dev/null
	apt-get install -y -qq --no-install-recommends prometheus curl jq </dev/null >"$work/apt.log" 2>&1 ||
		{ tail -n 30 "$work/apt.log"; fail "apt-get install prometheus"; }
	if [ -n "$policy_created" ]; then rm -f /usr/sbin/policy-rc.d; policy_created=""; fi
fi
# Should a package-started server run anyway (systemd present, or an old
# install), stop it: it would hold port 9090 and outlive CI.
if command -v systemctl >/dev/null && systemctl is-active --quiet prometheus 2>/dev/null; then
	systemctl stop prometheus || true
fi
for p in $(pgrep -u prometheus -x prometheus 2>/dev/null || true); do
	log "stopping the package's prometheus server (pid $p)"
	kill "$p" || true
done
promtool --version | head -n 1

# --- 2. rules and dashboard ---------------------------------------------
log "promtool check rules"
promtool check rules deploy/prometheus/alerts.yaml
log "promtool test rules"
promtool test rules deploy/prometheus/alerts_test.yaml

# Every alert needs a unit test and a runbook section.
for a in $(sed -n 's/^ *- alert: *//p' deploy/prometheus/alerts.yaml); do
	grep -q "alertname: $a\$" deploy/prometheus/alerts_test.yaml || fail "alert $a has no promtool test"
	grep -q "^## $a\$" docs/runbook.md || fail "alert $a has no section in docs/runbook.md"
	grep -A 20 "alert: $a\$" deploy/prometheus/alerts.yaml | grep -q "runbook.md#$(echo "$a" | tr 'A-Z' 'a-z')\"" ||
		fail "alert $a's runbook_url does not point at its section"
done

# The compose file's Prometheus config, with the rule file path of the repo.
sed "s#/etc/prometheus/alerts.yaml#$repo/deploy/prometheus/alerts.yaml#" deploy/prometheus/prometheus.yml >"$work/compose-prometheus.yml"
promtool check config "$work/compose-prometheus.yml"

# Dashboard queries, with Grafana's variables filled in, parsed as
# recording rules: a typo in a panel fails here rather than on a screen.
jq -e . deploy/grafana/backlogd.json >/dev/null || fail "deploy/grafana/backlogd.json is not JSON"
jq -r '.. | objects | select(has("expr")) | .expr' deploy/grafana/backlogd.json |
	sed -e 's/\$__rate_interval/2m/g' -e 's/\$instance/.*/g' -e 's/\$target/.*/g' >"$work/dashboard.exprs"
[ -s "$work/dashboard.exprs" ] || fail "no queries found in the dashboard"
jq -R -s '{groups: [{name: "dashboard", rules: ([split("\n")[] | select(length > 0)] | to_entries | map({record: "dashboard:query_\(.key)", expr: .value}))}]}' \
	"$work/dashboard.exprs" >"$work/dashboard-rules.json"
log "promtool check rules on the $(wc -l <"$work/dashboard.exprs") dashboard queries"
promtool check rules "$work/dashboard-rules.json" >/dev/null || promtool check rules "$work/dashboard-rules.json"

# --- 3. a real daemon ----------------------------------------------------
log "building backlogd"
go build -o "$work/backlogd" ./cmd/backlogd
mkdir -p "$work/run"
cp -R configs "$work/run/configs"
# Port 0: the daemon picks a free port and logs it.
sed -i 's/^listen: .*/listen: 127.0.0.1:0/' "$work/run/configs/backlogd.yaml"
(cd "$work/run" && exec "$work/backlogd" run --config configs/backlogd.yaml) >"$work/daemon.out" 2>"$work/daemon.log" </dev/null &
daemon_pid=$!

addr=""
for _ in $(seq 1 300); do
	kill -0 "$daemon_pid" 2>/dev/null || { cat "$work/daemon.log"; fail "backlogd exited during start"; }
	addr=$(jq -r 'select(.msg == "backlogd started") | .listen' "$work/daemon.log" 2>/dev/null | head -n 1 || true)
	[ -n "$addr" ] && break
	sleep 0.1
done
[ -n "$addr" ] || { cat "$work/daemon.log"; fail "backlogd did not log its listen address"; }
log "backlogd listening on $addr"
ready=""
for _ in $(seq 1 600); do
	if "$work/backlogd" healthcheck --addr "$addr" --path /readyz >/dev/null 2>&1; then ready=1; break; fi
	sleep 0.1
done
[ -n "$ready" ] || { curl -s "http://$addr/readyz" || true; cat "$work/daemon.log"; fail "/readyz never became ready"; }
log "/readyz ready"

curl -fsS "http://$addr/metrics" >"$work/metrics.txt"
log "scrape: $(wc -c <"$work/metrics.txt") bytes, $(grep -vc '^#' "$work/metrics.txt") samples"
log "promtool check metrics"
if ! promtool check metrics <"$work/metrics.txt" >"$work/lint.txt" 2>&1 || [ -s "$work/lint.txt" ]; then
	cat "$work/lint.txt"
	fail "promtool check metrics complained about the scrape"
fi
for m in backlogd_build_info backlogd_reconciles_total backlogd_items_linked backlogd_config_reloads_total \
	backlogd_last_full_sync_timestamp_seconds go_goroutines process_resident_memory_bytes; do
	grep -q "^$m[{ ]" "$work/metrics.txt" || fail "scrape has no $m"
done

# Names the rules and the dashboard use must exist: defined in
# syncer/metrics (some appear only once a tracker reports them) or present
# in the scrape (runtime and process collectors).
sed -n 's/^[[:space:]]*Name:[[:space:]]*"\(backlogd_[a-z_]*\)".*/\1/p' syncer/metrics/metrics.go >"$work/defined"
sed -n 's/^# TYPE \([a-z_]*\) .*/\1/p' "$work/metrics.txt" >>"$work/defined"
grep -ohE '\b(backlogd|go|process)_[a-z_]+' deploy/prometheus/alerts.yaml "$work/dashboard.exprs" | sort -u |
	while read -r name; do
		base=$(printf '%s' "$name" | sed -E 's/_(bucket|sum|count)$//')
		grep -qx "$name" "$work/defined" || grep -qx "$base" "$work/defined" ||
			fail "rules or dashboard use $name, which backlogd does not export"
	done

# --- 4. a throwaway Prometheus against the daemon --------------------------
prom_port=""
for p in $(seq 19090 19190); do
	if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then prom_port=$p; break; fi
done
[ -n "$prom_port" ] || fail "no free port for Prometheus"
cat >"$work/prometheus.yml" <<EOF
global: {scrape_interval: 1s, evaluation_interval: 1s}
rule_files: ["$repo/deploy/prometheus/alerts.yaml"]
scrape_configs:
  - job_name: backlogd
    static_configs: [{targets: ["$addr"]}]
EOF
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/tsdb" \
	--web.listen-address="127.0.0.1:$prom_port" >"$work/prometheus.log" 2>&1 </dev/null &
prom_pid=$!
prom="http://127.0.0.1:$prom_port"
up=""
for _ in $(seq 1 300); do
	if [ "$(curl -fsS "$prom/api/v1/query?query=up%7Bjob%3D%22backlogd%22%7D" 2>/dev/null | jq -r '.data.result[0].value[1] // empty')" = 1 ]; then
		up=1; break
	fi
	sleep 0.2
done
[ -n "$up" ] || { tail -n 20 "$work/prometheus.log"; fail "Prometheus did not scrape the daemon"; }
sleep 5 # a few scrapes and rule evaluations, so rate() has two samples
rules=$(curl -fsS "$prom/api/v1/rules")
nrules=$(printf '%s' "$rules" | jq '[.data.groups[].rules[]] | length')
bad=$(printf '%s' "$rules" | jq -r '.data.groups[].rules[] | select(.health != "ok") | "\(.name): \(.lastError)"')
[ "$nrules" -gt 0 ] || fail "Prometheus loaded no rules"
[ -z "$bad" ] || fail "rules fail to evaluate on real data: $bad"
log "Prometheus evaluates $nrules rules on the daemon's data without error"
firing=$(curl -fsS "$prom/api/v1/alerts" | jq -r '.data.alerts[] | select(.state == "firing") | .labels.alertname')
[ -z "$firing" ] || fail "alerts firing against a healthy daemon: $firing"
n=0 empty=0
while IFS= read -r q; do
	[ -n "$q" ] || continue
	n=$((n + 1))
	out=$(curl -fsS --get "$prom/api/v1/query" --data-urlencode "query=$q") || fail "dashboard query rejected: $q"
	[ "$(printf '%s' "$out" | jq -r .status)" = success ] || fail "dashboard query failed: $q: $out"
	[ "$(printf '%s' "$out" | jq '.data.result | length')" -gt 0 ] || empty=$((empty + 1))
done <"$work/dashboard.exprs"
log "$n dashboard queries run on real data ($empty empty: rate limits, errors and webhooks a file target never has)"
targets=$(grep -c '^  - name:' configs/backlogd.yaml)
for q in 'backlogd_items_linked' 'time() - backlogd_last_full_sync_timestamp_seconds' 'backlogd_queue_depth' \
	'sum by (target) (backlogd_webhook_deliveries_total)'; do
	[ "$(curl -fsS --get "$prom/api/v1/query" --data-urlencode "query=$q" | jq '.data.result | length')" -eq "$targets" ] ||
		fail "expected one series per configured target ($targets) for $q"
done
kill "$prom_pid"; wait "$prom_pid" 2>/dev/null || true; prom_pid=""

# --- 5. SIGTERM ------------------------------------------------------------
log "SIGTERM"
kill -TERM "$daemon_pid"
for _ in $(seq 1 300); do
	kill -0 "$daemon_pid" 2>/dev/null || break
	sleep 0.1
done
kill -0 "$daemon_pid" 2>/dev/null && { tail -n 20 "$work/daemon.log"; fail "backlogd still running 30s after SIGTERM"; }
set +e
wait "$daemon_pid"
rc=$?
set -e
daemon_pid=""
[ "$rc" = 0 ] || { tail -n 20 "$work/daemon.log"; fail "backlogd exited $rc after SIGTERM, want 0"; }
jq -e 'select(.msg == "stopped")' "$work/daemon.log" >/dev/null || fail "no \"stopped\" log line"
# One JSON event per line, snake_case keys.
while IFS= read -r line; do
	printf '%s' "$line" | jq -e 'type == "object"' >/dev/null 2>&1 || fail "log line is not a JSON object: $line"
done <"$work/daemon.log"
badkeys=$(jq -r 'keys[] | select(test("^[a-z][a-z0-9_]*$") | not)' "$work/daemon.log" | sort -u)
[ -z "$badkeys" ] || fail "log keys not in snake_case: $badkeys"
log "backlogd exited 0 after SIGTERM; $(wc -l <"$work/daemon.log") log lines, all JSON"
echo "ci-prometheus: OK"
