# Shared helpers for the real-client suites (integration/*/run). Source it from bash:
#   . "$(dirname "$0")/../lib/common.sh"
# Provides: check/check_output/check_fails (counting), report, the cleanup stack (on_exit),
# busybox rootfs/OCI archive/pause builders, and the argv-logger set-up.

set -uo pipefail

integration_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
repo_dir=$(cd "$integration_dir/.." && pwd)
passed=0
failed=0
failures=()
verbose=${VERBOSE:-0}

say() { printf '%s\n' "$*" >&2; }
die() {
	say "$(basename "$0"): $*"
	exit 2
}

# ---------------------------------------------------------------- checks
# Each check prints one line "ok NAME" or "FAIL NAME" followed by the command's output.
record_pass() {
	passed=$((passed + 1))
	printf 'ok   %s\n' "$1"
}
record_fail() { # record_fail NAME DETAIL
	failed=$((failed + 1))
	failures+=("$1")
	printf 'FAIL %s\n' "$1"
	[[ -n $2 ]] && printf '%s\n' "$2" | sed 's/^/     | /'
	return 0
}

# check NAME CMD...: passes when CMD exits 0.
check() {
	local name=$1 out rc
	shift
	out=$("$@" 2>&1)
	rc=$?
	if ((rc == 0)); then
		record_pass "$name"
		((verbose)) && [[ -n $out ]] && printf '%s\n' "$out" | sed 's/^/     > /'
	else
		record_fail "$name" "exit $rc: $out"
	fi
	return $rc
}

# check_fails NAME CMD...: passes when CMD exits non-zero.
check_fails() {
	local name=$1 out rc
	shift
	out=$("$@" 2>&1)
	rc=$?
	if ((rc != 0)); then record_pass "$name"; else record_fail "$name" "unexpectedly succeeded: $out"; fi
}

# check_exit NAME WANT CMD...: passes when CMD exits with status WANT.
check_exit() {
	local name=$1 want=$2 out rc
	shift 2
	out=$("$@" 2>&1)
	rc=$?
	if ((rc == want)); then record_pass "$name"; else record_fail "$name" "exit $rc, want $want: $out"; fi
}

# check_output NAME REGEX CMD...: passes when CMD exits 0 and its stdout+stderr matches REGEX
# (grep -E). The output is kept in $last_output for later checks.
last_output=""
check_output() {
	local name=$1 regex=$2 rc
	shift 2
	last_output=$("$@" 2>&1)
	rc=$?
	if ((rc == 0)) && grep -Eq -- "$regex" <<<"$last_output"; then
		record_pass "$name"
	else
		record_fail "$name" "exit $rc, want output matching /$regex/: $last_output"
	fi
}

# check_match NAME REGEX TEXT: passes when TEXT matches REGEX.
check_match() {
	if grep -Eq -- "$2" <<<"$3"; then record_pass "$1"; else record_fail "$1" "want /$2/, got: $3"; fi
}

# wait_for TIMEOUT_S CMD...: retries CMD every 0.2 s until it succeeds; fails after TIMEOUT_S.
wait_for() {
	local deadline=$((SECONDS + $1))
	shift
	until "$@" >/dev/null 2>&1; do
		((SECONDS >= deadline)) && return 1
		sleep 0.2
	done
}

# report: the summary line, last line of every suite; exit status 1 on any failure.
report() {
	if ((${#failures[@]})); then
		say "failed checks:"
		printf '  %s\n' "${failures[@]}" >&2
	fi
	echo "$passed passed, $failed failed"
	((failed == 0))
}

# ---------------------------------------------------------------- cleanup
# on_exit CMD...: pushes a cleanup command; they run in reverse order when the suite exits.
cleanup_stack=()
on_exit() {
	local q
	printf -v q '%q ' "$@"
	cleanup_stack+=("$q")
}
run_cleanups() {
	local i
	for ((i = ${#cleanup_stack[@]} - 1; i >= 0; i--)); do
		eval "${cleanup_stack[i]}" >/dev/null 2>&1 || true
	done
	cleanup_stack=()
}
trap run_cleanups EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# kill_pid_and_wait PID: SIGTERM, then SIGKILL after 10 s. For daemons the suite started.
kill_pid_and_wait() {
	local pid=$1 i
	kill -TERM "$pid" 2>/dev/null || return 0
	for ((i = 0; i < 50; i++)); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.2
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

# remove_cgroups_under DIR: removes DIR and every cgroup below it, deepest first (cgroup
# directories can only be rmdir'ed; processes still inside are killed first via cgroup.kill).
remove_cgroups_under() {
	local dir=$1
	[[ -d $dir ]] || return 0
	[[ -e $dir/cgroup.kill ]] && echo 1 >"$dir/cgroup.kill" 2>/dev/null
	find "$dir" -depth -type d -exec rmdir {} + 2>/dev/null
	[[ ! -d $dir ]]
}

# remove_new_empty_dirs DIR LISTING: rmdir's each empty directory in DIR whose name is not a line of
# LISTING (an earlier `ls -A DIR`).
remove_new_empty_dirs() {
	local path
	for path in "$1"/*; do
		[[ -d $path ]] && ! grep -qxF -- "${path##*/}" <<<"$2" && rmdir "$path" 2>/dev/null
	done
	return 0
}

# ---------------------------------------------------------------- environment
# require_private_cgroup2: every engine must run where /sys/fs/cgroup is cgroup2 (hack/test-host or
# the VM); on the host's v1 hierarchies podman, conmon and the shim would create cgroups.
require_private_cgroup2() {
	[[ $(stat -f -c %T /sys/fs/cgroup) == cgroup2fs ]] ||
		die "/sys/fs/cgroup is not cgroup2: run through hack/test-host or hack/vm/run (the suite's run script does)"
}

# cgroup_controllers: the controllers available at the cgroup2 root (empty on this host).
cgroup_controllers() { cat /sys/fs/cgroup/cgroup.controllers 2>/dev/null; }

# ---------------------------------------------------------------- images
# build_busybox_rootfs_tar OUT_TAR: a tar of hack/mkbundle's busybox-static rootfs.
build_busybox_rootfs_tar() {
	local out=$1 work
	work=$(mktemp -d "${TMPDIR:-/tmp}/husk-rootfs.XXXXXX")
	"$repo_dir/hack/mkbundle" "$work/bundle" >/dev/null || {
		rm -rf "$work"
		return 1
	}
	tar --numeric-owner -C "$work/bundle/rootfs" -cf "$out" .
	rm -rf "$work"
}

# build_oci_archive OUT_TAR IMAGE_NAME LAYER_TAR ENTRYPOINT_JSON: an image archive holding one
# uncompressed layer, in both layouts `ctr images import` reads: OCI (index.json, with the
# io.containerd.image.name annotation naming the image) and docker (manifest.json RepoTags).
# ENTRYPOINT_JSON is a JSON array (e.g. '["/pause"]') or null.
build_oci_archive() {
	local out=$1 name=$2 layer=$3 entrypoint=$4 work layer_digest config config_digest manifest manifest_digest
	work=$(mktemp -d "${TMPDIR:-/tmp}/husk-oci.XXXXXX")
	mkdir -p "$work/blobs/sha256"
	layer_digest=$(sha256sum "$layer" | cut -d' ' -f1)
	cp "$layer" "$work/blobs/sha256/$layer_digest"
	config=$(jq -cn --arg diff "sha256:$layer_digest" --argjson ep "$entrypoint" '{
		architecture: "amd64", os: "linux",
		config: {Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
		         Entrypoint: $ep, Cmd: (if $ep == null then ["/bin/sh"] else null end)},
		rootfs: {type: "layers", diff_ids: [$diff]}}')
	config_digest=$(printf '%s' "$config" | sha256sum | cut -d' ' -f1)
	printf '%s' "$config" >"$work/blobs/sha256/$config_digest"
	manifest=$(jq -cn --arg c "sha256:$config_digest" --argjson cs "${#config}" \
		--arg l "sha256:$layer_digest" --argjson ls "$(stat -c %s "$layer")" '{
		schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json",
		config: {mediaType: "application/vnd.oci.image.config.v1+json", digest: $c, size: $cs},
		layers: [{mediaType: "application/vnd.oci.image.layer.v1.tar", digest: $l, size: $ls}]}')
	manifest_digest=$(printf '%s' "$manifest" | sha256sum | cut -d' ' -f1)
	printf '%s' "$manifest" >"$work/blobs/sha256/$manifest_digest"
	jq -cn --arg m "sha256:$manifest_digest" --argjson ms "${#manifest}" --arg name "$name" '{
		schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json",
		manifests: [{mediaType: "application/vnd.oci.image.manifest.v1+json", digest: $m, size: $ms,
		  annotations: {"io.containerd.image.name": $name,
		                "org.opencontainers.image.ref.name": ($name | sub(".*:"; ""))}}]}' >"$work/index.json"
	echo '{"imageLayoutVersion":"1.0.0"}' >"$work/oci-layout"
	jq -cn --arg c "blobs/sha256/$config_digest" --arg l "blobs/sha256/$layer_digest" --arg name "$name" \
		'[{Config: $c, RepoTags: [$name], Layers: [$l]}]' >"$work/manifest.json"
	tar --numeric-owner -C "$work" -cf "$out" oci-layout index.json manifest.json blobs
	rm -rf "$work"
}

# build_pause_layer OUT_TAR: a layer holding /pause, a static C program that sleeps until
# SIGINT/SIGTERM (exit 0) and reaps children, as Kubernetes' pause does for a pod's pid 1.
build_pause_layer() {
	local out=$1 work
	work=$(mktemp -d "${TMPDIR:-/tmp}/husk-pause.XXXXXX")
	cat >"$work/pause.c" <<'EOF'
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

static void on_stop(int sig) { (void)sig; _exit(0); }
static void on_child(int sig) { (void)sig; while (waitpid(-1, 0, WNOHANG) > 0) {} }

int main(void) {
	struct sigaction stop = {.sa_handler = on_stop}, child = {.sa_handler = on_child, .sa_flags = SA_NOCLDSTOP};
	sigaction(SIGINT, &stop, 0);
	sigaction(SIGTERM, &stop, 0);
	sigaction(SIGCHLD, &child, 0);
	for (;;) pause();
}
EOF
	mkdir "$work/rootfs"
	if ! gcc -static -Os -o "$work/rootfs/pause" "$work/pause.c"; then
		rm -rf "$work"
		return 1
	fi
	tar --numeric-owner -C "$work/rootfs" -cf "$out" pause
	rm -rf "$work"
}

# ---------------------------------------------------------------- argv logging
# setup_argv_logger DIR REAL_RUNTIME: writes DIR/<basename of REAL_RUNTIME> (a copy of
# lib/argv-logger bound to REAL_RUNTIME and DIR/argv.log) and prints its path. Engines are pointed at
# it instead of the runtime, so every invocation is logged with its exit status.
setup_argv_logger() {
	local dir=$1 real=$2 wrapper
	wrapper=$dir/$(basename "$real")
	mkdir -p "$dir"
	sed -e "s|@REAL_RUNTIME@|$real|" -e "s|@ARGV_LOG@|$dir/argv.log|" \
		"$integration_dir/lib/argv-logger" >"$wrapper"
	chmod 755 "$wrapper"
	: >"$dir/argv.log"
	echo "$wrapper"
}

# print_argv_shapes LOG: the distinct argv shapes in LOG (ids, paths and numbers generalised).
print_argv_shapes() {
	"$integration_dir/lib/argv-shapes" "$1"
}
