#!/usr/bin/env bash
# redis-image.sh finds or builds the Redis image that container-backed tests use.
#
# Order:
#   1. $ARQONBUS_TEST_REDIS_IMAGE (default redis:7-alpine) if it is present locally or
#      can be pulled.
#   2. Otherwise an image built here from Debian's redis-server: a minimal root file
#      system with the binary, every library ldd lists and the dynamic loader, imported
#      with `docker import` and tagged arqonbus/redis-test:<major>. An existing tag built
#      from the same redis-server binary is reused, so a rerun takes about a second.
#
# The last stdout line is exactly `ARQONBUS_TEST_REDIS_IMAGE=<tag>` so a Makefile can
# capture it; progress goes to stderr. Without a Docker engine nothing is printed on
# stdout and the script exits 0: the tests then spawn redis-server from PATH.
#
# Debian's redis-server is installed with apt-get when missing: the image build needs
# it (root required, else a clear error), and the harness's process-backed tests use
# it (best effort on the other paths: a warning when not root).
#
# Environment:
#   ARQONBUS_TEST_REDIS_IMAGE     preferred image (default redis:7-alpine)
#   ARQONBUS_REDIS_PULL_TIMEOUT   seconds allowed for `docker pull` (default 60)
set -euo pipefail

readonly PREFERRED="${ARQONBUS_TEST_REDIS_IMAGE:-redis:7-alpine}"
readonly PULL_TIMEOUT="${ARQONBUS_REDIS_PULL_TIMEOUT:-60}"
readonly LOCAL_REPO="arqonbus/redis-test"
readonly LABEL_SHA="org.arqonbus.redis-server.sha256"
readonly LABEL_VERSION="org.arqonbus.redis-server.version"
# Server flags baked into the built image: reachable through a published port, no
# persistence of any kind.
readonly SERVER_ARGS='"--protected-mode", "no", "--save", "", "--appendonly", "no", "--bind", "0.0.0.0"'

log() { printf 'redis-image: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# Commands run on exit, whatever the path: temporary directories, probe containers.
CLEANUP=()
cleanup() {
	local c
	for c in "${CLEANUP[@]}"; do eval "$c" || true; done
}
trap cleanup EXIT

# docker_up reports whether a Docker engine answers within a few seconds.
docker_up() {
	command -v docker >/dev/null 2>&1 || return 1
	timeout 15 docker version --format '{{.Server.APIVersion}}' >/dev/null 2>&1
}

image_present() { docker image inspect "$1" >/dev/null 2>&1; }

# install_redis_server installs Debian's redis-server when it is missing. With strict=1
# a failure is fatal; otherwise it only warns (the caller has another way out).
install_redis_server() {
	local strict="$1"
	command -v redis-server >/dev/null 2>&1 && return 0
	if [[ "$(id -u)" != 0 ]]; then
		local msg="redis-server is not installed and installing it needs root: run 'sudo apt-get update && sudo apt-get install -y redis-server'"
		[[ "$strict" == 1 ]] && die "$msg"
		log "warning: $msg"
		return 0
	fi
	if ! command -v apt-get >/dev/null 2>&1; then
		[[ "$strict" == 1 ]] && die "redis-server is not installed and apt-get is not available"
		log "warning: redis-server is not installed and apt-get is not available"
		return 0
	fi
	log "installing redis-server with apt-get"
	export DEBIAN_FRONTEND=noninteractive
	if ! { apt-get update && apt-get install -y --no-install-recommends redis-server; } >&2; then
		[[ "$strict" == 1 ]] && die "apt-get install redis-server failed"
		log "warning: apt-get install redis-server failed"
	fi
}

# ping_port sends PING to 127.0.0.1:$1 and succeeds on PONG.
ping_port() {
	local port="$1" reply=""
	if command -v redis-cli >/dev/null 2>&1; then
		reply="$(timeout 2 redis-cli -h 127.0.0.1 -p "$port" PING 2>/dev/null || true)"
	else
		reply="$(timeout 2 bash -c 'exec 3<>/dev/tcp/127.0.0.1/'"$port"'; printf "PING\r\n" >&3; head -c 7 <&3' 2>/dev/null || true)"
	fi
	[[ "$reply" == *PONG* ]]
}

# verify_image runs the image on a loopback port, PINGs it until it answers (10 s at
# most) and removes the container.
verify_image() {
	local image="$1" cid port deadline
	cid="$(docker run -d -p 127.0.0.1::6379 "$image")" || die "docker run $image failed"
	CLEANUP+=("docker rm -f -v '$cid' >/dev/null 2>&1")
	port="$(docker port "$cid" 6379/tcp | head -n 1)"
	port="${port##*:}"
	[[ -n "$port" ]] || die "no published port for $image"
	deadline=$((SECONDS + 10))
	until ping_port "$port"; do
		if ((SECONDS >= deadline)); then
			docker logs "$cid" >&2 2>&1 || true
			die "$image did not answer PING on 127.0.0.1:$port within 10s"
		fi
		sleep 0.2
	done
	log "verified: $image answers PING on 127.0.0.1:$port"
	docker rm -f -v "$cid" >/dev/null
}

# build_image builds (or reuses) the local image from the host's redis-server and
# sets BUILT to its tag.
BUILT=""
build_image() {
	local bin version major sha tag have rootfs
	bin="$(readlink -f "$(command -v redis-server)")"
	version="$(redis-server --version | sed -n 's/.* v=\([0-9][0-9.]*\).*/\1/p')"
	[[ -n "$version" ]] || die "cannot read the version of $bin"
	major="${version%%.*}"
	sha="$(sha256sum "$bin" | cut -c1-64)"
	tag="$LOCAL_REPO:$major"

	have="$(docker image inspect --format "{{ index .Config.Labels \"$LABEL_SHA\" }}" "$tag" 2>/dev/null || true)"
	if [[ "$have" == "$sha" ]]; then
		log "reusing $tag (redis-server $version)"
		BUILT="$tag"
		return 0
	fi

	log "building $tag from $bin (redis-server $version)"
	rootfs="$(mktemp -d "${TMPDIR:-/tmp}/arqonbus-redis-rootfs.XXXXXX")"
	CLEANUP+=("rm -rf '$rootfs'")
	mkdir -p "$rootfs/usr/local/bin" "$rootfs/data" "$rootfs/tmp"
	chmod 1777 "$rootfs/tmp"
	# The real file, named redis-server: the binary picks its role from argv[0].
	cp -L "$bin" "$rootfs/usr/local/bin/redis-server"
	# Every library at the path ldd resolved it to, plus the loader (the line without =>).
	local lib
	while read -r lib; do
		[[ -n "$lib" ]] || continue
		mkdir -p "$rootfs$(dirname "$lib")"
		cp -L "$lib" "$rootfs$lib"
	done < <(ldd "$bin" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' | sort -u)

	tar --numeric-owner --owner=0 --group=0 -C "$rootfs" -c . |
		docker import \
			--change "ENV PATH=/usr/local/bin:/usr/bin:/bin" \
			--change "WORKDIR /data" \
			--change "EXPOSE 6379" \
			--change "LABEL $LABEL_SHA=$sha $LABEL_VERSION=$version" \
			--change 'ENTRYPOINT ["/usr/local/bin/redis-server"]' \
			--change "CMD [$SERVER_ARGS]" \
			- "$tag" >&2 || die "docker import failed"
	rm -rf "$rootfs"
	BUILT="$tag"
}

main() {
	if ! docker_up; then
		log "no Docker engine reachable: tests will spawn redis-server from PATH"
		install_redis_server 0
		exit 0
	fi

	local image=""
	if image_present "$PREFERRED"; then
		log "using local image $PREFERRED"
		image="$PREFERRED"
	elif timeout "$PULL_TIMEOUT" docker pull "$PREFERRED" >&2; then
		log "pulled $PREFERRED"
		image="$PREFERRED"
	fi
	if [[ -n "$image" ]]; then
		# The harness's own tests also run redis-server as a process.
		install_redis_server 0
	else
		log "$PREFERRED cannot be pulled: building a local image from Debian's redis-server"
		# One build at a time on this machine; the second waits and then reuses.
		if command -v flock >/dev/null 2>&1; then
			exec 9>"${TMPDIR:-/tmp}/arqonbus-redis-image.lock"
			flock 9
		fi
		install_redis_server 1
		build_image
		image="$BUILT"
		verify_image "$image"
	fi
	printf 'ARQONBUS_TEST_REDIS_IMAGE=%s\n' "$image"
}

main "$@"
