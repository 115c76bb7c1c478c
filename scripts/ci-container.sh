#!/usr/bin/env bash
# CI check of the container image, run by .ci/run as root on Debian (CI=true,
# no stdin). No Docker engine and no image registry are reachable here, so:
#   1. install Debian's buildah and busybox-static;
#   2. build a local stand-in for the Dockerfile's builder base image
#      (docker.io/library/golang:1.26-bookworm) from this machine's Go
#      toolchain, busybox and CA bundle;
#   3. build the Dockerfile with --pull=never, the module cache of this
#      machine serving as a read-only GOPROXY;
#   4. check the image's config (user, volume, port, healthcheck, labels),
#      run `backlogd version`, `validate` and `demo` in it, then run the
#      daemon in it and check `backlogd healthcheck` and SIGTERM;
#   5. print the image size and fail above the issue's goal (25 MB), so a
#      dependency or an embedded file that bloats it is caught here.
# All images and containers live in a temporary storage root removed at exit.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PATH:/usr/local/go/bin
log() { printf -- '-- %s\n' "$*"; }
fail() { printf 'ci-container: FAIL: %s\n' "$*" >&2; exit 1; }

GO_IMAGE=docker.io/library/golang:1.26-bookworm # the Dockerfile's ARG GO_IMAGE
IMAGE=localhost/backlogd:ci
SIZE_GOAL_MB=25

[ "$(id -u)" = 0 ] || fail "run as root (buildah's chroot isolation and vfs storage need it)"
if ! command -v buildah >/dev/null || [ ! -x /bin/busybox ] || ! command -v jq >/dev/null; then
	log "installing buildah and busybox-static"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq </dev/null
	apt-get install -y -qq --no-install-recommends buildah busybox-static jq ca-certificates </dev/null >/tmp/ci-container-apt.log 2>&1 ||
		{ tail -n 30 /tmp/ci-container-apt.log; fail "apt-get install buildah"; }
fi
buildah --version

work=$(mktemp -d /tmp/backlogd-ci-container.XXXXXX)
B=(buildah --root "$work/storage" --runroot "$work/run" --storage-driver vfs)
run_pid=""
cleanup() {
	if [ -n "$run_pid" ]; then
		pkill -KILL -P "$run_pid" 2>/dev/null || true
		kill -KILL "$run_pid" 2>/dev/null || true
	fi
	"${B[@]}" rm --all >/dev/null 2>&1 || true
	"${B[@]}" rmi --all --force >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT

# --- 2. the builder base stand-in ------------------------------------------
log "building the stand-in $GO_IMAGE from $(go version | cut -d' ' -f3) and busybox"
ctr=$("${B[@]}" from scratch)
mnt=$("${B[@]}" mount "$ctr")
mkdir -p "$mnt/bin" "$mnt/usr/local" "$mnt/etc/ssl/certs" "$mnt/tmp" "$mnt/root" "$mnt/go"
chmod 1777 "$mnt/tmp"
cp -a "$(go env GOROOT)" "$mnt/usr/local/go"
cp /bin/busybox "$mnt/bin/busybox"
for applet in $(/bin/busybox --list); do
	[ -e "$mnt/bin/$applet" ] || ln -s busybox "$mnt/bin/$applet"
done
cp /etc/ssl/certs/ca-certificates.crt "$mnt/etc/ssl/certs/"
echo 'root:x:0:0:root:/root:/bin/sh' >"$mnt/etc/passwd"
echo 'root:x:0:' >"$mnt/etc/group"
"${B[@]}" unmount "$ctr" >/dev/null
"${B[@]}" config --env PATH=/go/bin:/usr/local/go/bin:/usr/sbin:/usr/bin:/sbin:/bin \
	--env GOPATH=/go --env HOME=/root --workingdir /go "$ctr"
"${B[@]}" commit --quiet "$ctr" "$GO_IMAGE" >/dev/null
"${B[@]}" rm "$ctr" >/dev/null

# --- 3. the image ------------------------------------------------------------
modcache=$(go env GOMODCACHE)/cache/download
[ -d "$modcache" ] || fail "no Go module cache at $modcache (run go mod download first)"
version=$(git describe --tags --always --dirty 2>/dev/null || echo dev)
revision=$(git rev-parse HEAD 2>/dev/null || echo unknown)
log "building $IMAGE ($version, $revision) with --pull=never"
start=$SECONDS
"${B[@]}" bud --isolation chroot --pull=never --format docker --quiet \
	--build-arg GO_IMAGE="$GO_IMAGE" \
	--build-arg VERSION="$version" --build-arg REVISION="$revision" \
	--build-arg GOPROXY="file:///gomodproxy,https://proxy.golang.org" \
	--volume "$modcache:/gomodproxy:ro" \
	-f Dockerfile -t "$IMAGE" . >"$work/bud.log" 2>&1 ||
	{ tail -n 40 "$work/bud.log"; fail "buildah bud"; }
log "built in $((SECONDS - start))s"

# --- 4. what the image says and does --------------------------------------
cfg=$("${B[@]}" inspect --type image "$IMAGE")
want() { # jq expression, expected value, what
	got=$(printf '%s' "$cfg" | jq -r "$1")
	[ "$got" = "$2" ] || fail "image $3: got '$got', want '$2'"
}
want '.Docker.config.User' '10001:10001' 'user'
want '.Docker.config.Volumes | keys | join(",")' '/data' 'volumes'
want '.Docker.config.ExposedPorts | keys | join(",")' '9464/tcp' 'exposed ports'
want '.Docker.config.Healthcheck.Test | join(" ")' 'CMD /backlogd healthcheck' 'healthcheck'
want '.Docker.config.Entrypoint | join(" ")' '/backlogd' 'entrypoint'
want '.Docker.config.Labels["org.opencontainers.image.revision"]' "$revision" 'revision label'
want '.Docker.config.Labels["org.opencontainers.image.version"]' "$version" 'version label'
want '.Docker.config.Labels["org.opencontainers.image.source"]' 'https://github.com/backlogd/backlogd' 'source label'

ctr=$("${B[@]}" from --pull-never "$IMAGE")
mnt=$("${B[@]}" mount "$ctr")
for f in backlogd etc/passwd etc/ssl/certs/ca-certificates.crt etc/backlogd/backlogd.yaml tmp data; do
	[ -e "$mnt/$f" ] || fail "image has no /$f"
done
[ "$(stat -c %u:%g "$mnt/data")" = 10001:10001 ] || fail "/data is not owned by 10001:10001"
[ "$(stat -c %a "$mnt/tmp")" = 1777 ] || fail "/tmp is not world-writable with the sticky bit"
file_out=$(file -b "$mnt/backlogd" 2>/dev/null || true)
case "$file_out" in
	*"statically linked"* | *"static-pie linked"* | "") ;;
	*) fail "/backlogd is not a static binary: $file_out" ;;
esac
# The image's size is its filesystem: one layer, uncompressed.
bytes=$(du -sb "$mnt" | cut -f1)
bin_bytes=$(stat -c %s "$mnt/backlogd")
"${B[@]}" unmount "$ctr" >/dev/null

crun() { "${B[@]}" run --isolation chroot "$ctr" -- "$@"; }
out=$(crun /backlogd version) || fail "backlogd version exited $?"
log "backlogd version: $out"
case "$out" in *"$revision"*) ;; *) fail "version does not name revision $revision: $out" ;; esac
crun /backlogd validate >"$work/validate.log" 2>&1 || { cat "$work/validate.log"; fail "backlogd validate of the built-in config"; }
log "backlogd validate: built-in config valid"
crun /backlogd demo >"$work/demo.log" 2>&1 || { tail -n 40 "$work/demo.log"; fail "backlogd demo exited non-zero"; }
log "backlogd demo: exit 0 ($(wc -l <"$work/demo.log") lines)"

# The daemon with the built-in config, as `docker run` would start it. chroot
# isolation shares this machine's network: it listens on 0.0.0.0:9464.
if (exec 3<>/dev/tcp/127.0.0.1/9464) 2>/dev/null; then
	fail "port 9464 is taken on this machine; the image's daemon cannot listen"
fi
"${B[@]}" run --isolation chroot "$ctr" -- /backlogd run >"$work/daemon.out" 2>"$work/daemon.log" </dev/null &
run_pid=$!
healthy=""
for _ in $(seq 1 100); do
	if crun /backlogd healthcheck >/dev/null 2>&1; then healthy=1; break; fi
	sleep 0.3
done
[ -n "$healthy" ] || { cat "$work/daemon.log"; fail "backlogd healthcheck never passed against the image's daemon"; }
log "backlogd healthcheck: ok against the daemon in the image"
ready=""
for _ in $(seq 1 100); do
	if crun /backlogd healthcheck --path /readyz >/dev/null 2>&1; then ready=1; break; fi
	sleep 0.3
done
[ -n "$ready" ] || { cat "$work/daemon.log"; fail "/readyz never became ready in the image"; }
log "/readyz: ready"
# SIGTERM to the daemon itself, as a container engine sends it: it runs
# below the buildah run process we started.
descendants() {
	local c
	for c in $(pgrep -P "$1" || true); do
		echo "$c"
		descendants "$c"
	done
}
daemon=""
for p in $(descendants "$run_pid"); do
	[ "$(cat "/proc/$p/comm" 2>/dev/null)" = backlogd ] && daemon=$p && break
done
[ -n "$daemon" ] || fail "cannot find the daemon process under buildah run ($run_pid)"
kill -TERM "$daemon"
for _ in $(seq 1 300); do
	kill -0 "$run_pid" 2>/dev/null || break
	sleep 0.1
done
kill -0 "$run_pid" 2>/dev/null && fail "the image's daemon still runs 30s after SIGTERM"
set +e
wait "$run_pid"
rc=$?
set -e
run_pid=""
[ "$rc" = 0 ] || { tail -n 20 "$work/daemon.log"; fail "the image's daemon exited $rc after SIGTERM, want 0"; }
grep -q '"msg":"stopped"' "$work/daemon.log" || fail "the image's daemon did not log \"stopped\""
log "SIGTERM: exit 0"
"${B[@]}" rm "$ctr" >/dev/null

# --- 5. size ---------------------------------------------------------------
mb=$(awk -v b="$bytes" 'BEGIN { printf "%.1f", b / 1000000 }')
bin_mb=$(awk -v b="$bin_bytes" 'BEGIN { printf "%.1f", b / 1000000 }')
"${B[@]}" push --quiet "$IMAGE" "docker-archive:$work/image.tar:backlogd:ci" >/dev/null 2>&1 &&
	gz_mb=$(gzip -c "$work/image.tar" | wc -c | awk '{ printf "%.1f", $1 / 1000000 }') || gz_mb="?"
echo "image size: $mb MB uncompressed ($bytes bytes; the binary is $bin_mb MB), $gz_mb MB gzipped; goal <= $SIZE_GOAL_MB MB"
awk -v b="$bytes" -v g="$SIZE_GOAL_MB" 'BEGIN { exit !(b <= g * 1000000) }' ||
	fail "image is $mb MB, over the $SIZE_GOAL_MB MB goal: a dependency or an embedded file grew it (see BENCHMARKS.md, Operations)"
echo "ci-container: OK"
