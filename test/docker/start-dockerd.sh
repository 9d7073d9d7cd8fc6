#!/usr/bin/env bash
# Idempotent: make sure a Docker engine answers on this machine (CI and these dev machines).
#  - installs docker.io (Debian) when dockerd is missing (needs root),
#  - starts dockerd in the background when `docker info` fails,
#  - waits up to 60 s for it to answer;
#  - notes the pid of a dockerd it started in $VLLM_GW_TEST_DOCKERD_MARKER
#    (/tmp/vllm-gateway-tests-dockerd.pid): the daemon-restart tests stop only that one, never a
#    Docker service the system runs.
# Log: ${DOCKERD_LOG:-/tmp/dockerd.log}. Exits non-zero, saying why, when it cannot.
set -euo pipefail

log() { echo "start-dockerd: $*" >&2; }
SUDO=""
if [ "$(id -u)" != "0" ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; fi
fi

docker_ok() { docker info >/dev/null 2>&1; }
MARKER="${VLLM_GW_TEST_DOCKERD_MARKER:-/tmp/vllm-gateway-tests-dockerd.pid}"

if command -v docker >/dev/null 2>&1 && docker_ok; then
  log "Docker engine already running"
  exit 0
fi

if ! command -v dockerd >/dev/null 2>&1; then
  log "installing docker.io"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq docker.io >/dev/null
fi

if ! docker_ok; then
  # A stale pid file from a killed dockerd stops a new one from starting.
  if [ -f /var/run/docker.pid ] && ! kill -0 "$(cat /var/run/docker.pid)" 2>/dev/null; then
    $SUDO rm -f /var/run/docker.pid
  fi
  if [ -f /var/run/docker.pid ]; then
    log "dockerd (pid $(cat /var/run/docker.pid)) is running but not answering yet"
  else
    log "starting dockerd (log: ${DOCKERD_LOG:-/tmp/dockerd.log})"
    # --live-restore: containers keep running while the daemon restarts (the tests restart it).
    # setsid: its own session, so a Ctrl-C (or a killed process group) of the caller does not reach it.
    SETSID=""
    if command -v setsid >/dev/null 2>&1; then SETSID="setsid"; fi
    $SUDO sh -c "$SETSID nohup dockerd --live-restore >>'${DOCKERD_LOG:-/tmp/dockerd.log}' 2>&1 </dev/null &"
    STARTED=1
  fi
fi

for _ in $(seq 1 120); do
  if docker_ok; then
    log "Docker engine is up"
    # The daemon-restart tests stop only a dockerd noted here: one this script started.
    if [ "${STARTED:-0}" = 1 ] && [ -f /var/run/docker.pid ]; then
      cat /var/run/docker.pid >"$MARKER"
    fi
    exit 0
  fi
  sleep 0.5
done
log "dockerd did not answer within 60 s; last lines of ${DOCKERD_LOG:-/tmp/dockerd.log}:"
tail -n 30 "${DOCKERD_LOG:-/tmp/dockerd.log}" >&2 || true
exit 1
