#!/usr/bin/env bash
# test-host.sh — a throwaway "remote GPU host" on this machine, for the tests of remote hosts
# (docs/hosts.md): the gateway reaches a host's Docker engine over one ssh connection, so a test
# host needs its own address, sshd, Docker engine and nvidia-smi, all of which this makes.
#
# A host NAME is: a network namespace NAME (veth vgwhN to the root namespace, 10.251.N.0/24, root
# side .1, host side .2), its own mount and UTS namespaces (hostname NAME, its own /etc/docker so
# the engine ID differs from the machine's, its own empty /root so ssh sessions skip this machine's
# ~/.bashrc), and inside them:
#   - its own dockerd: --data-root /var/lib/vllm-gw-test-hosts/NAME, -H unix://RUN/NAME/docker.sock
#     (no TCP), its own docker0 and iptables, cgroup parent /test-host-NAME. `-p 127.0.0.1:P:...`
#     publishes on the HOST's loopback, which the root namespace cannot reach (only a tunnel can).
#   - an sshd on ADDR:22 only, key-only, root allowed, forwarding allowed. In the host
#     /var/run/docker.sock is the host's engine (private /run), as on a real host. Sessions get
#     PATH=RUN/NAME/bin:… where a stub nvidia-smi answers from RUN/NAME/gpus.tsv.
# RUN is /run/vllm-gw-test-hosts.
#
#   test-host.sh up NAME [INDEX]     create and start (INDEX 1-254 picks 10.251.INDEX.0/24; default: first free)
#   test-host.sh down NAME|--all     stop what up started (recorded PIDs), remove netns, veth, data root
#   test-host.sh status [NAME]       one line per host
#   test-host.sh env NAME            the KEY=VALUE lines (also in RUN/NAME/env; `set -a; . FILE`)
#   test-host.sh ssh NAME [CMD...]   ssh into the host (key, known_hosts and user preset)
#   test-host.sh docker NAME ARGS... the docker CLI on the host's engine (its unix socket)
#   test-host.sh load NAME IMAGE...  copy images from the machine's engine: docker save | docker load
#   test-host.sh gpus NAME SPEC      set the fake GPUs: "NAME:TOTAL_MIB[:USED_MIB[:UTIL%]],..."
#   test-host.sh sshd-stop NAME      stop the host's sshd and its sessions (the host "drops"; engine and containers stay)
#   test-host.sh sshd-start NAME     start the host's sshd again
#   test-host.sh exec NAME CMD...    run CMD inside the host's namespaces (DOCKER_HOST set)
#
# Environment: TEST_HOSTS_RUN (/run/vllm-gw-test-hosts), TEST_HOSTS_DATA (/var/lib/vllm-gw-test-hosts),
# TEST_HOSTS_NET (10.251), TEST_HOST_GPUS (at up; default "NVIDIA H200:143771"),
# TEST_HOST_DOCKERD_ARGS (extra dockerd flags), TEST_HOST_SSHD_EXTRA (sshd_config lines, e.g.
# "MaxStartups 100:30:200"). Needs root, iproute2, util-linux (nsenter, unshare), dockerd + docker
# CLI and openssh-server (.ci/run installs them).
set -euo pipefail

RUN_BASE=${TEST_HOSTS_RUN:-/run/vllm-gw-test-hosts}
DATA_BASE=${TEST_HOSTS_DATA:-/var/lib/vllm-gw-test-hosts}
NET_PREFIX=${TEST_HOSTS_NET:-10.251}
SELF=$(readlink -f "$0")

log() { echo "test-host: $*" >&2; }
die() { log "$*"; exit 1; }

check_name() {
  [[ ${1:-} =~ ^[a-z][a-z0-9-]{0,19}$ ]] || die "bad host name '${1:-}' (want [a-z][a-z0-9-]{0,19})"
}
hostdir() { echo "$RUN_BASE/$1"; }
alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }
cmdline() { { tr '\0' ' ' <"/proc/$1/cmdline"; } 2>/dev/null || true; }
readpid() { [ -f "$1" ] && tr -dc '0-9' <"$1" || true; }
# cmdline_has PID STRING: the process's command line contains STRING (guards kills against reused PIDs)
cmdline_has() { alive "$1" && [[ "$(cmdline "$1")" == *"$2"* ]]; }

# stop PID [GRACE_S]: TERM, wait, KILL.
stop_pid() {
  local pid=$1 grace=${2:-10} i
  alive "$pid" || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < grace * 10; i++)); do alive "$pid" || return 0; sleep 0.1; done
  log "pid $pid still alive after ${grace}s: SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do alive "$pid" || return 0; sleep 0.1; done
}

need_tools() {
  local t
  for t in ip nsenter unshare dockerd docker ssh ssh-keygen flock timeout; do
    command -v "$t" >/dev/null 2>&1 || die "missing $t"
  done
  [ -x /usr/sbin/sshd ] || die "missing /usr/sbin/sshd (install openssh-server)"
}

# A /24 is free when no host of ours holds it and nothing on this machine routes or addresses it.
alloc_index() {
  local used=" " f n
  for f in "$RUN_BASE"/*/index; do [ -f "$f" ] && used+="$(cat "$f") "; done
  for n in $(seq 1 254); do
    [[ $used == *" $n "* ]] && continue
    index_free "$n" && { echo "$n"; return 0; }
  done
  return 1
}
index_free() {
  local n=$1
  ip link show "vgwh$n" >/dev/null 2>&1 && return 1
  [ -z "$(ip -o addr show to "$NET_PREFIX.$n.0/24")" ] || return 1
  [ -z "$(ip -o route show match "$NET_PREFIX.$n.2" | grep -v '^default' || true)" ] || return 1
  return 0
}

write_gpus() { # write_gpus DIR SPEC
  local d=$1 spec=$2 i=0 item name total used util
  : >"$d/gpus.tsv.tmp"
  IFS=',' read -ra items <<<"$spec"
  for item in "${items[@]}"; do
    [ -n "${item// /}" ] || continue
    IFS=':' read -r name total used util <<<"$item"
    [[ ${total:-} =~ ^[0-9]+$ ]] || die "bad GPU spec '$item' (want NAME:TOTAL_MIB[:USED_MIB[:UTIL%]])"
    printf '%s\t%s\t%s\t%s\t%s\n' "$i" "$name" "$total" "${used:-0}" "${util:-0}" >>"$d/gpus.tsv.tmp"
    i=$((i + 1))
  done
  mv "$d/gpus.tsv.tmp" "$d/gpus.tsv"
}

write_nvidia_smi() { # the fake nvidia-smi that ssh sessions on the host find first on PATH
  local d=$1 name=$2
  mkdir -p "$d/bin"
  cat >"$d/bin/nvidia-smi" <<EOF
#!/usr/bin/env bash
# Fake nvidia-smi of test host $name (made by test-host.sh). GPUs: $d/gpus.tsv
# (index, name, total MiB, used MiB, util %; rewrite with \`test-host.sh gpus $name SPEC\`).
# With FAKE_NVIDIA_SMI_SCRIPT in $d/gpu.env it runs that fake instead (node SCRIPT "\$@").
D=$d
EOF
  cat >>"$d/bin/nvidia-smi" <<'EOF'
[ -f "$D/gpu.env" ] && { set -a; . "$D/gpu.env"; set +a; }
printf '%s %s\n' "$(date +%s.%N)" "$*" >>"$D/nvidia-smi.calls"
if [ -n "${FAKE_NVIDIA_SMI_SCRIPT:-}" ]; then exec node "$FAKE_NVIDIA_SMI_SCRIPT" "$@"; fi
mode=table query= format=csv
while [ $# -gt 0 ]; do
  case $1 in
    --query-gpu=*) mode=gpu query=${1#*=} ;;
    --query-gpu) mode=gpu query=${2:-}; shift ;;
    --query-compute-apps=*) mode=apps query=${1#*=} ;;
    --format=*) format=${1#*=} ;;
    --format) format=${2:-}; shift ;;
    -L | --list-gpus) mode=list ;;
  esac
  shift
done
case $mode in
  list) awk -F'\t' -v h="$(hostname)" '{printf "GPU %d: %s (UUID: GPU-%s-%d)\n", $1, $2, h, $1}' "$D/gpus.tsv" ;;
  apps) [[ $format == *noheader* ]] || echo "${query//,/, }" ;; # nothing runs on a fake GPU
  gpu | table)
    [ "$mode" = table ] && { query=index,name,memory.used,memory.total,utilization.gpu; format=csv; }
    awk -F'\t' -v q="$query" -v fmt="$format" -v h="$(hostname)" '
      BEGIN {
        n = split(q, f, ",")
        unit["memory.total"] = unit["memory.used"] = unit["memory.free"] = unit["memory.reserved"] = "MiB"
        unit["utilization.gpu"] = unit["utilization.memory"] = "%"; unit["power.draw"] = unit["power.limit"] = "W"
        split("index uuid name memory.total memory.used memory.free memory.reserved utilization.gpu utilization.memory temperature.gpu power.draw power.limit driver_version pci.bus_id count", ok, " ")
        for (k in ok) valid[ok[k]] = 1
        for (i = 1; i <= n; i++) { gsub(/ /, "", f[i]); if (!(f[i] in valid)) { printf "Field \"%s\" is not a valid field to query.\n", f[i] > "/dev/stderr"; bad = 1; exit 2 } }
        units = fmt !~ /nounits/
        if (fmt !~ /noheader/) { for (i = 1; i <= n; i++) printf "%s%s%s", (i > 1 ? ", " : ""), f[i], (f[i] in unit ? " [" unit[f[i]] "]" : ""); print "" }
      }
      { rows[NR] = $0 }
      END {
        if (bad) exit 2
        for (r = 1; r <= NR; r++) {
          split(rows[r], c, "\t")
          v["index"] = c[1]; v["name"] = c[2]; v["memory.total"] = c[3]; v["memory.used"] = c[4]
          v["memory.reserved"] = 616; v["memory.free"] = c[3] - c[4] - 616; v["utilization.gpu"] = c[5]
          v["utilization.memory"] = 0; v["temperature.gpu"] = 40; v["power.draw"] = "80.00"; v["power.limit"] = "700.00"
          v["uuid"] = "GPU-" h "-" c[1]; v["driver_version"] = "580.159.04"; v["pci.bus_id"] = sprintf("00000000:%02X:00.0", c[1] + 1); v["count"] = NR
          for (i = 1; i <= n; i++) printf "%s%s%s", (i > 1 ? ", " : ""), v[f[i]], (units && f[i] in unit ? " " unit[f[i]] : "")
          print ""
        }
      }' "$D/gpus.tsv" ;;
esac
EOF
  chmod 755 "$d/bin/nvidia-smi"
}

# start_sshd DIR: the host's sshd, in its namespaces (detached; its pidfile is DIR/sshd.pid)
start_sshd() {
  local d=$1
  setsid nsenter -t "$(readpid "$d/holder.pid")" -m -u -n -- /usr/sbin/sshd -D -f "$d/sshd_config" -E "$d/sshd.log" \
    </dev/null >>"$d/sshd.log" 2>&1 9>&- &
}

# stop_sshd NAME: the listening sshd, then every sshd session process in the host's network
# namespace (the connections a client holds), as when the host drops off the network.
stop_sshd() {
  local name=$1 d pid
  d=$(hostdir "$name")
  pid=$(readpid "$d/sshd.pid")
  if cmdline_has "$pid" "$d/sshd_config"; then stop_pid "$pid" 5; fi
  for pid in $(ip netns pids "$name" 2>/dev/null); do
    [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == sshd* ]] && kill -KILL "$pid" 2>/dev/null || true
  done
  rm -f "$d/sshd.pid"
}

host_healthy() {
  local d=$1
  alive "$(readpid "$d/dockerd.pid")" && alive "$(readpid "$d/sshd.pid")" &&
    timeout 5 docker -H "unix://$d/docker.sock" version >/dev/null 2>&1
}

cmd_up() {
  local name=${1:-} index=${2:-}
  check_name "$name"
  local d data
  d=$(hostdir "$name")
  data="$DATA_BASE/$name"
  [ "$(id -u)" = 0 ] || die "needs root"
  need_tools
  mkdir -p "$RUN_BASE" "$DATA_BASE"
  exec 9>"$RUN_BASE/.lock"
  flock 9
  if [ -d "$d" ]; then
    if host_healthy "$d"; then
      log "$name is already up"
      cat "$d/env"
      return 0
    fi
    die "$d exists but $name is not healthy: run '$0 down $name' first"
  fi
  [ ! -e "/run/netns/$name" ] || die "a network namespace '$name' exists and is not ours"
  if [ -n "$index" ]; then
    [[ $index =~ ^[0-9]+$ ]] && [ "$index" -ge 1 ] && [ "$index" -le 254 ] || die "INDEX must be 1-254"
    grep -qx "$index" "$RUN_BASE"/*/index 2>/dev/null && die "index $index is taken by another test host"
    index_free "$index" || die "$NET_PREFIX.$index.0/24 is in use on this machine"
  else
    index=$(alloc_index) || die "no free /24 in $NET_PREFIX.0.0/16"
  fi
  local addr="$NET_PREFIX.$index.2" gw="$NET_PREFIX.$index.1" veth="vgwh$index"
  [ ! -e "$data" ] || die "$data exists (left from an earlier host?): remove it first"
  mkdir -m 700 "$d"
  # From here on a failure (set -e) undoes everything made so far.
  UP_NAME=$name
  trap 'log "up failed: cleaning up"; "$SELF" down "$UP_NAME" 9>&- >&2 || true' EXIT
  echo "$name" >"$d/name"
  echo "$index" >"$d/index"
  mkdir -p "$data"
  echo "$data" >"$d/data-root"

  # --- network: netns + veth ---
  ip netns add "$name"
  echo "$name" >"$d/netns"
  ip link add "$veth" type veth peer name "${veth}p"
  echo "$veth" >"$d/veth"
  ip link set "${veth}p" netns "$name"
  ip -n "$name" link set "${veth}p" name eth0
  ip addr add "$gw/24" dev "$veth"
  ip link set "$veth" up
  ip -n "$name" addr add "$addr/24" dev eth0
  ip -n "$name" link set eth0 up
  ip -n "$name" link set lo up
  ip -n "$name" route add default via "$gw" # no NAT in the root namespace: nothing beyond the machine is reachable

  # --- holder: a process that keeps the host's mount + UTS namespaces (netns is /run/netns/NAME) ---
  # In them: hostname NAME; /etc/docker and /root are this host's own; /run is a private tmpfs holding
  # only /run/test-hosts/NAME (the real directory, moved in), /run/sshd, and /run/docker.sock -> this
  # host's socket, so /var/run/docker.sock on the host is the host's engine, never this machine's.
  mkdir -p "$d/etc-docker" /etc/docker "$d/home" "$data/.run-mnt"
  chmod 700 "$d/home"
  local root_mnt
  root_mnt=$(readlink /proc/self/ns/mnt)
  setsid nsenter --net="/run/netns/$name" -- unshare --mount --uts --propagation slave -- /bin/sh -c '
    [ "$(readlink /proc/self/ns/mnt)" != "$1" ] || { echo "not in a new mount namespace" >&2; exit 97; }
    set -e
    hostname "$3"
    mount --bind "$2/etc-docker" /etc/docker
    [ -n "$4" ] || mount --bind "$2/home" /root
    mount --bind "$2" "$5/.run-mnt"
    mount -t tmpfs -o mode=755,size=64m "test-host-$3" /run
    mkdir -p "$2" /run/sshd /run/lock
    mount --move "$5/.run-mnt" "$2"
    ln -s "$2/docker.sock" /run/docker.sock
    echo $$ >"$2/holder.pid"
    exec sleep infinity' holder "$root_mnt" "$d" "$name" "${TEST_HOST_KEEP_HOME:-}" "$data" </dev/null >>"$d/holder.log" 2>&1 9>&- &
  local holder="" i
  for ((i = 0; i < 50; i++)); do holder=$(readpid "$d/holder.pid"); [ -n "$holder" ] && break; sleep 0.1; done
  [ -n "$holder" ] && alive "$holder" || { cat "$d/holder.log" >&2; die "namespace holder did not start"; }
  [ "$(readlink "/proc/$holder/ns/mnt")" != "$root_mnt" ] || die "holder shares the root mount namespace"
  local in_host=(nsenter -t "$holder" -m -u -n --)

  # --- sshd: ADDR:22 only, key-only, root ---
  ssh-keygen -q -t ed25519 -N '' -C "test-host-$name" -f "$d/id_ed25519"
  ssh-keygen -q -t ed25519 -N '' -C "host-$name" -f "$d/ssh_host_ed25519_key"
  cp "$d/id_ed25519.pub" "$d/authorized_keys"
  echo "$addr $(cut -d' ' -f1,2 "$d/ssh_host_ed25519_key.pub")" >"$d/known_hosts"
  cat >"$d/sshd_config" <<EOF
# sshd of test host $name (test-host.sh). MaxSessions/MaxStartups: OpenSSH's defaults (10, 10:30:100)
# unless TEST_HOST_SSHD_EXTRA sets them (sshd keeps the first value it reads for a keyword).
${TEST_HOST_SSHD_EXTRA:-}
Port 22
ListenAddress $addr
HostKey $d/ssh_host_ed25519_key
PidFile $d/sshd.pid
AuthorizedKeysFile $d/authorized_keys
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
AllowTcpForwarding yes
AllowStreamLocalForwarding yes
PrintMotd no
LogLevel VERBOSE
Subsystem sftp internal-sftp
SetEnv PATH=$d/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin TEST_HOST=$name
EOF
  cat >"$d/ssh_config" <<EOF
Host $name $addr
  HostName $addr
  User root
  IdentityFile $d/id_ed25519
  IdentitiesOnly yes
  UserKnownHostsFile $d/known_hosts
  StrictHostKeyChecking yes
  BatchMode yes
  ConnectTimeout 10
  LogLevel ERROR
EOF
  mkdir -p "$d/sshbin" # for the docker CLI's ssh:// transport: ssh with this host's config
  printf '#!/bin/sh\nexec /usr/bin/ssh -F %s "$@"\n' "$d/ssh_config" >"$d/sshbin/ssh"
  chmod 755 "$d/sshbin/ssh"
  "${in_host[@]}" /usr/sbin/sshd -t -f "$d/sshd_config"
  write_gpus "$d" "${TEST_HOST_GPUS:-NVIDIA H200:143771}"
  write_nvidia_smi "$d" "$name"
  if [ -n "${TEST_HOST_FAKE_NVIDIA_SMI:-}" ]; then
    printf 'FAKE_NVIDIA_SMI_SCRIPT=%q\nFAKE_NVIDIA_SMI_GPUS=%q\nFAKE_NVIDIA_SMI_SCOPE=%q\n' \
      "$(readlink -f "$TEST_HOST_FAKE_NVIDIA_SMI")" "${TEST_HOST_GPUS:-NVIDIA H200:143771}" "test-host-$name" >"$d/gpu.env"
  fi
  start_sshd "$d"

  # --- dockerd ---
  echo '{}' >"$d/daemon.json"
  # shellcheck disable=SC2086
  setsid "${in_host[@]}" dockerd --config-file "$d/daemon.json" --data-root "$data" --exec-root "$d/exec" \
    --pidfile "$d/dockerd.pid" -H "unix://$d/docker.sock" --cgroup-parent "/test-host-$name" \
    ${TEST_HOST_DOCKERD_ARGS:-} </dev/null >>"$d/dockerd.log" 2>&1 9>&- &
  local ok=""
  for ((i = 0; i < 600; i++)); do
    if docker -H "unix://$d/docker.sock" version >/dev/null 2>&1; then ok=1; break; fi
    alive "$(readpid "$d/dockerd.pid")" || [ "$i" -lt 50 ] || break
    sleep 0.1
  done
  [ -n "$ok" ] || { tail -n 20 "$d/dockerd.log" >&2; false; }
  readpid "$d/exec/containerd/containerd.pid" >"$d/containerd.pid" || true
  ok=""
  for ((i = 0; i < 100; i++)); do
    if timeout 10 ssh -F "$d/ssh_config" "$name" true 2>/dev/null; then ok=1; break; fi
    sleep 0.1
  done
  [ -n "$ok" ] || { tail -n 20 "$d/sshd.log" >&2; false; }

  cat >"$d/env" <<EOF
TEST_HOST_NAME=$name
TEST_HOST_INDEX=$index
HOST_ADDR=$addr
SSH_USER=root
SSH_KEY=$d/id_ed25519
SSH_HOST_KEY=$d/ssh_host_ed25519_key.pub
SSH_KNOWN_HOSTS=$d/known_hosts
SSH_CONFIG=$d/ssh_config
DOCKER_HOST=ssh://root@$addr
DOCKER_SOCK=$d/docker.sock
DOCKER_UNIX_HOST=unix://$d/docker.sock
NVIDIA_SMI=$d/bin/nvidia-smi
EOF
  trap - EXIT
  log "$name up: dockerd pid $(readpid "$d/dockerd.pid"), sshd pid $(readpid "$d/sshd.pid"), holder pid $holder"
  cat "$d/env"
}

cmd_down() {
  local name=${1:-}
  if [ "$name" = --all ]; then
    local f rc=0
    for f in "$RUN_BASE"/*/name; do [ -f "$f" ] && { "$SELF" down "$(cat "$f")" || rc=1; }; done
    return $rc
  fi
  check_name "$name"
  local d pid p c data veth holder
  d=$(hostdir "$name")
  [ -d "$d" ] || die "no test host $name ($d missing)"
  data=$(cat "$d/data-root" 2>/dev/null || true)
  veth=$(cat "$d/veth" 2>/dev/null || true)
  holder=$(readpid "$d/holder.pid")

  # 1. containers, while the engine answers (their processes, proxies and mounts go with them)
  local sock="unix://$d/docker.sock" ids
  if timeout 5 docker -H "$sock" version >/dev/null 2>&1; then
    ids=$(timeout 20 docker -H "$sock" ps -aq 2>/dev/null || true)
    # shellcheck disable=SC2086
    [ -z "$ids" ] || timeout 60 docker -H "$sock" rm -f $ids >/dev/null 2>&1 || log "docker rm -f failed"
  fi
  # 2. dockerd (it stops its containerd), then containerd and shims if they outlived it
  pid=$(readpid "$d/dockerd.pid")
  if cmdline_has "$pid" "$d/docker.sock"; then stop_pid "$pid" 30; fi
  pid=$(readpid "$d/containerd.pid")
  if cmdline_has "$pid" "$d/exec/containerd"; then stop_pid "$pid" 10; fi
  for p in $(grep -lF -- "$d/exec/containerd/containerd.sock" /proc/[0-9]*/cmdline 2>/dev/null || true); do
    pid=${p#/proc/}
    pid=${pid%/cmdline}
    [[ "$(cmdline "$pid")" == *containerd-shim*"-address $d/exec/containerd/containerd.sock"* ]] && kill -KILL "$pid" 2>/dev/null || true
  done
  # 3. processes left in this host's cgroups (containers of its engine), then the cgroups
  for c in /sys/fs/cgroup/*/"test-host-$name" /sys/fs/cgroup/"test-host-$name"; do
    [ -d "$c" ] || continue
    for pid in $(find "$c" -name cgroup.procs -exec cat {} + 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
  done
  sleep 0.2
  for c in /sys/fs/cgroup/*/"test-host-$name" /sys/fs/cgroup/"test-host-$name"; do
    [ -d "$c" ] && find "$c" -depth -type d -exec rmdir {} + 2>/dev/null || true
  done
  # 4. sshd, then whatever still runs in the host's network namespace (ssh sessions, docker-proxy, holder)
  pid=$(readpid "$d/sshd.pid")
  if cmdline_has "$pid" "$d/sshd_config"; then stop_pid "$pid" 5; fi
  if [ -e "/run/netns/$name" ]; then
    for pid in $(ip netns pids "$name" 2>/dev/null); do [ "$pid" = "$holder" ] || stop_pid "$pid" 3; done
  fi
  if alive "$holder" && [[ "$(cmdline "$holder")" == sleep* ]]; then stop_pid "$holder" 2; fi
  # 5. network
  if [ -e "/run/netns/$name" ]; then ip netns del "$name" || log "ip netns del $name failed"; fi
  if [ -n "$veth" ] && ip link show "$veth" >/dev/null 2>&1; then ip link del "$veth" 2>/dev/null || true; fi
  # 6. data root: mounts live in the host's (now gone) mount namespace; refuse to delete through any left here
  if [ -n "$data" ] && [ -d "$data" ]; then
    local m
    for m in $(awk -v p="$data/" 'index($5, p) == 1 {print $5}' /proc/self/mountinfo | sort -r); do
      umount "$m" 2>/dev/null || umount -l "$m" || true
    done
    rm -rf --one-file-system "$data"
  fi
  rm -rf --one-file-system "$d"
  log "$name down"
}

cmd_status() {
  local f d name any=""
  printf '%-12s %-14s %-16s %-14s %-8s %s\n' NAME ADDR DOCKERD SSHD SSH ENGINE
  for f in "$RUN_BASE"/*/name; do
    [ -f "$f" ] || continue
    name=$(cat "$f")
    [ -z "${1:-}" ] || [ "$1" = "$name" ] || continue
    any=1
    d=$(hostdir "$name")
    local dp sp st_d st_s st_ssh eng
    dp=$(readpid "$d/dockerd.pid") sp=$(readpid "$d/sshd.pid")
    if alive "$dp"; then st_d="pid $dp"; else st_d="down"; fi
    if alive "$sp"; then st_s="pid $sp"; else st_s="down"; fi
    if timeout 10 ssh -F "$d/ssh_config" "$name" true 2>/dev/null; then st_ssh=ok; else st_ssh=fail; fi
    eng=$(timeout 5 docker -H "unix://$d/docker.sock" info --format '{{.ServerVersion}} containers={{.Containers}} running={{.ContainersRunning}} images={{.Images}}' 2>/dev/null || echo "no answer")
    printf '%-12s %-14s %-16s %-14s %-8s %s\n' "$name" "$NET_PREFIX.$(cat "$d/index").2" "$st_d" "$st_s" "$st_ssh" "$eng"
  done
  [ -n "$any" ] || [ -z "${1:-}" ] || die "no test host ${1}"
}

need_host() { check_name "${1:-}"; [ -f "$(hostdir "$1")/env" ] || die "test host $1 is not up"; }

cmd=${1:-}
shift || true
case $cmd in
  up) cmd_up "$@" ;;
  down) cmd_down "$@" ;;
  status) cmd_status "$@" ;;
  env) need_host "${1:-}"; cat "$(hostdir "$1")/env" ;;
  ssh) need_host "${1:-}"; n=$1; shift; exec ssh -F "$(hostdir "$n")/ssh_config" "$n" "$@" ;;
  docker) need_host "${1:-}"; n=$1; shift; exec docker -H "unix://$(hostdir "$n")/docker.sock" "$@" ;;
  docker-ssh)
    need_host "${1:-}"; n=$1; shift
    PATH="$(hostdir "$n")/sshbin:$PATH" DOCKER_HOST="ssh://root@$NET_PREFIX.$(cat "$(hostdir "$n")/index").2" exec docker "$@" ;;
  load)
    need_host "${1:-}"; n=$1; shift
    [ $# -gt 0 ] || die "usage: $0 load NAME IMAGE..."
    docker save "$@" | docker -H "unix://$(hostdir "$n")/docker.sock" load ;;
  sshd-stop) need_host "${1:-}"; stop_sshd "$1" ;;
  sshd-start)
    need_host "${1:-}"
    d=$(hostdir "$1")
    alive "$(readpid "$d/sshd.pid")" && exit 0
    rm -f "$d/sshd.pid"
    start_sshd "$d"
    for ((i = 0; i < 100; i++)); do timeout 10 ssh -F "$d/ssh_config" "$1" true 2>/dev/null && exit 0; sleep 0.1; done
    die "sshd of $1 did not come back (see $d/sshd.log)" ;;
  gpus) need_host "${1:-}"; [ -n "${2:-}" ] || die "usage: $0 gpus NAME SPEC"; write_gpus "$(hostdir "$1")" "$2" ;;
  exec)
    need_host "${1:-}"; n=$1; shift
    exec nsenter -t "$(readpid "$(hostdir "$n")/holder.pid")" -m -u -n -- \
      env DOCKER_HOST="unix://$(hostdir "$n")/docker.sock" PATH="$(hostdir "$n")/bin:$PATH" "$@" ;;
  *) sed -n '2,/^set -euo/p' "$SELF" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;;
esac
