#!/usr/bin/env bash
# netns_cluster.sh: run N workers as N separate "hosts", one Linux network namespace each, joined
# by a bridge that lives in a namespace of its own. Each worker sees only its own loopback and one
# interface gsm<K> with address 10.77.0.<K+1>/24; everything between workers (TCP store, Gloo data)
# crosses the bridge, as between machines. Nothing on the host's own interfaces is touched: every
# link is created inside the namespaces made here, and all of them are removed on exit (normal end,
# worker failure, timeout, SIGINT, SIGTERM).
#
#   sudo tests/netns/netns_cluster.sh -n 4 [options] -- CMD ARGS...
#
# Each worker runs CMD ARGS in namespace <tag>-w<K> with RANK=K, WORLD_SIZE=N, LOCAL_RANK=0,
# LOCAL_WORLD_SIZE=1, GROUP_RANK=K, MASTER_ADDR=10.77.0.1 (rank 0's address), MASTER_PORT and
# GLOO_SOCKET_IFNAME=gsm<K> set, stdin from /dev/null, stdout+stderr into <logs>/rank<K>.log.
# At the end each log is printed with a "[K] " prefix, then one status line per rank.
#
# Options:
#   -n, --workers N     number of workers (1..64; default 2)
#   --port P            MASTER_PORT (default 29500; every namespace has all ports free)
#   --timeout S         wall-clock bound in seconds for the whole run (default 120); workers still
#                       running then get SIGTERM, SIGKILL 2 s later, and the exit status is 124
#   --no-ifname         leave GLOO_SOCKET_IFNAME unset (the worker must find its address itself)
#   --cut R             take rank R's link down (a host dropping off the network) ...
#   --cut-when REGEX    ... once a worker's log matches REGEX (grep -E; default: at once)
#   --stop-on-failure   when a worker fails, stop the others (default: let them stop themselves,
#                       as workers on separate machines must)
#   --split K           two bridges: ranks < K on br0, ranks >= K on br1, joined only by ...
#   --relay PATH        ... the user-space link PATH (netns_tap_relay, built as build/bin/netns_tap_relay)
#                       between TAP ports of the two bridges, which copies frames across ...
#   --delay-ms D        ... after D ms each way (default 0) ...
#   --drop-every N      ... and drops every Nth frame (default 0: none)
#   --logs DIR          keep the per-rank logs in DIR (default: a temporary folder, removed)
#   --tag NAME          namespace name prefix (default gsmnet-<pid>; [A-Za-z0-9-], at most 20)
#
# Exit status: 0 when every worker exited 0; else the status of the first worker that failed
# (128 + signal when killed); 124 on timeout; 77 when namespaces cannot be made here (not root,
# no `ip`, no netns/veth/bridge support: a test should skip); 2 for bad options.
set -u
shopt -s nullglob

readonly SKIP=77
me=netns_cluster
say() { echo "$me: $*"; }
die_usage() { echo "$me: $*" >&2; exit 2; }
skip() { say "SKIP: $*"; exit "$SKIP"; }

workers=2 port=29500 timeout_s=120 use_ifname=1 cut_rank=-1 cut_when="" stop_on_failure=0 logs="" tag=""
split=0 relay="" delay_ms=0 drop_every=0
while [ $# -gt 0 ]; do
  case "$1" in
    -n|--workers|--port|--timeout|--cut|--cut-when|--split|--relay|--delay-ms|--drop-every|--logs|--tag)
      [ $# -ge 2 ] || die_usage "$1 needs a value" ;;
  esac
  case "$1" in
    -n|--workers) workers=${2:-}; shift 2 ;;
    --port) port=${2:-}; shift 2 ;;
    --timeout) timeout_s=${2:-}; shift 2 ;;
    --no-ifname) use_ifname=0; shift ;;
    --cut) cut_rank=${2:-}; shift 2 ;;
    --cut-when) cut_when=${2:-}; shift 2 ;;
    --stop-on-failure) stop_on_failure=1; shift ;;
    --split) split=${2:-}; shift 2 ;;
    --relay) relay=${2:-}; shift 2 ;;
    --delay-ms) delay_ms=${2:-}; shift 2 ;;
    --drop-every) drop_every=${2:-}; shift 2 ;;
    --logs) logs=${2:-}; shift 2 ;;
    --tag) tag=${2:-}; shift 2 ;;
    --) shift; break ;;
    -h|--help) sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die_usage "unknown option '$1' (the worker's command goes after --)" ;;
  esac
done
[ $# -gt 0 ] || die_usage "no command: netns_cluster.sh -n N -- CMD ARGS..."
is_int() { [[ "$1" =~ ^[0-9]+$ ]]; }
is_int "$workers" && [ "$workers" -ge 1 ] && [ "$workers" -le 64 ] || die_usage "--workers '$workers' is not in 1..64"
is_int "$port" && [ "$port" -ge 1 ] && [ "$port" -le 65535 ] || die_usage "--port '$port' is not a port"
is_int "$timeout_s" && [ "$timeout_s" -ge 1 ] || die_usage "--timeout '$timeout_s' is not a positive number of seconds"
if [ "$cut_rank" != -1 ]; then
  is_int "$cut_rank" && [ "$cut_rank" -lt "$workers" ] || die_usage "--cut '$cut_rank' is not a rank below $workers"
fi
if [ "$split" != 0 ]; then
  is_int "$split" && [ "$split" -lt "$workers" ] || die_usage "--split '$split' is not a rank in 1..$((workers - 1))"
  [ -n "$relay" ] || die_usage "--split needs --relay PATH (the program that joins the two bridges)"
  [ -x "$relay" ] || die_usage "--relay '$relay' is not an executable"
fi
is_int "$delay_ms" || die_usage "--delay-ms '$delay_ms' is not a number of milliseconds"
is_int "$drop_every" || die_usage "--drop-every '$drop_every' is not a count"
[ -n "$tag" ] || tag="gsmnet-$$"
[[ "$tag" =~ ^[A-Za-z0-9-]{1,20}$ ]] || die_usage "--tag '$tag': letters, digits and '-' only, at most 20"

# ---- can namespaces be made here? -------------------------------------------------------------
command -v ip >/dev/null 2>&1 || skip "no 'ip' command (install iproute2)"
[ "$(id -u)" -eq 0 ] || skip "not root (uid $(id -u)): creating network namespaces needs root or CAP_SYS_ADMIN+CAP_NET_ADMIN"

bridge_ns="$tag-br"
worker_ns() { echo "$tag-w$1"; }
made=()          # namespaces this invocation created, in creation order
pids=()          # worker pids by rank
own_logs=0
cleaned=0

# Kills every process inside the namespaces made here (ip netns pids; nothing outside them), then
# deletes the namespaces, which removes the veth pairs and the bridge with them. Bounded: one
# SIGTERM round, at most 2 s of waiting, one SIGKILL round.
cleanup() {
  [ "$cleaned" -eq 1 ] && return
  cleaned=1
  local ns p alive left
  for ns in "${made[@]}"; do
    for p in $(ip netns pids "$ns" 2>/dev/null); do kill -TERM "$p" 2>/dev/null; done
  done
  for ((left = 20; left > 0; left--)); do
    alive=0
    for ns in "${made[@]}"; do [ -n "$(ip netns pids "$ns" 2>/dev/null)" ] && alive=1; done
    [ "$alive" -eq 0 ] && break
    sleep 0.1
  done
  for ns in "${made[@]}"; do
    for p in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
  done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
  for ns in "${made[@]}"; do ip netns delete "$ns" 2>/dev/null || say "warning: could not delete namespace $ns"; done
  [ "$own_logs" -eq 1 ] && rm -rf "$logs"
}
trap cleanup EXIT
trap 'say "interrupted (SIGINT); stopping the workers"; cleanup; exit 130' INT
trap 'say "terminated (SIGTERM); stopping the workers"; cleanup; exit 143' TERM

# Namespaces left by an earlier invocation that was SIGKILLed (no trap runs then): default-tagged
# ones whose owner is no longer a running netns_cluster.sh (gone, a zombie not yet reaped, or its
# pid reused by another program).
harness_running() {
  local state
  state=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) || return 1
  [ -n "$state" ] && [ "$state" != Z ] && tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -q netns_cluster
}
for f in /run/netns/gsmnet-*-br; do
  stale=${f#/run/netns/gsmnet-}; stale=${stale%-br}
  if is_int "$stale" && [ "$stale" != $$ ] && ! harness_running "$stale"; then
    for g in /run/netns/gsmnet-"$stale"-*; do
      n=${g#/run/netns/}
      for p in $(ip netns pids "$n" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
      ip netns delete "$n" 2>/dev/null && say "removed namespace $n left by a killed run (pid $stale)"
    done
    rm -rf "${TMPDIR:-/tmp}/netns_cluster.$stale".*
  fi
done

add_ns() {
  ip netns add "$1" 2>/dev/null || return 1
  made+=("$1")
  ip -n "$1" link set lo up
}
add_ns "$bridge_ns" || skip "cannot create network namespaces here ('ip netns add' failed: no permission or no netns support)"
ip netns exec "$bridge_ns" sysctl -q -w net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 >/dev/null 2>&1
ip -n "$bridge_ns" link add br0 type bridge 2>/dev/null || skip "cannot create a bridge inside a namespace (no bridge support)"
ip -n "$bridge_ns" link set br0 up
relay_pid=""
if [ "$split" != 0 ]; then
  ip -n "$bridge_ns" link add br1 type bridge && ip -n "$bridge_ns" link set br1 up
  for t in 0 1; do
    ip -n "$bridge_ns" tuntap add "tap$t" mode tap 2>/dev/null || skip "cannot create a TAP device (no /dev/net/tun)"
    ip -n "$bridge_ns" link set "tap$t" master "br$t" up
  done
fi
for ((k = 0; k < workers; k++)); do
  ns=$(worker_ns "$k")
  add_ns "$ns" || skip "cannot create namespace $ns"
  # No IPv6 in the workers: the only address of gsm<K> is the IPv4 one, so whatever picks "the
  # interface's address" gets it.
  ip netns exec "$ns" sysctl -q -w net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 >/dev/null 2>&1
  ip -n "$bridge_ns" link add "p$k" type veth peer name "gsm$k" netns "$ns" 2>/dev/null ||
    skip "cannot create a veth pair between namespaces (no veth support)"
  bridge=br0
  [ "$split" != 0 ] && [ "$k" -ge "$split" ] && bridge=br1
  ip -n "$bridge_ns" link set "p$k" master "$bridge" up
  ip -n "$ns" addr add "10.77.0.$((k + 1))/24" dev "gsm$k"
  ip -n "$ns" link set "gsm$k" up
done
master_addr=10.77.0.1
say "namespaces $tag-*: bridge $bridge_ns, $workers worker(s) on 10.77.0.0/24, MASTER_ADDR=$master_addr MASTER_PORT=$port"

if [ -z "$logs" ]; then
  logs=$(mktemp -d "${TMPDIR:-/tmp}/netns_cluster.$$.XXXXXX") || { say "cannot make a log folder"; exit 1; }
  own_logs=1
else
  mkdir -p "$logs" || { say "cannot make log folder $logs"; exit 1; }
fi

link_cut() {
  ip -n "$(worker_ns "$cut_rank")" link set "gsm$cut_rank" down
  say "took rank $cut_rank's link gsm$cut_rank down${cut_when:+ (a log matched '$cut_when')}"
  cut_done=1
}
cut_done=0

if [ "$split" != 0 ]; then
  ip netns exec "$bridge_ns" "$relay" tap0 tap1 --delay-ms "$delay_ms" --drop-every "$drop_every" \
    --seconds $((timeout_s + 30)) </dev/null >"$logs/relay.log" 2>&1 &
  relay_pid=$!
  say "ranks 0..$((split - 1)) on br0, $split..$((workers - 1)) on br1, joined by $(basename "$relay") (delay $delay_ms ms each way, drop every ${drop_every} frame(s); 0: none)"
fi

start_ns=$(date +%s%N)
for ((k = 0; k < workers; k++)); do
  ns=$(worker_ns "$k")
  envs=(RANK="$k" WORLD_SIZE="$workers" LOCAL_RANK=0 LOCAL_WORLD_SIZE=1 GROUP_RANK="$k"
        MASTER_ADDR="$master_addr" MASTER_PORT="$port")
  if [ "$use_ifname" -eq 1 ]; then envs+=(GLOO_SOCKET_IFNAME="gsm$k"); fi
  # ip netns exec runs the command in place (no fork): $! is the worker itself.
  ip netns exec "$ns" env -u GLOO_SOCKET_IFNAME "${envs[@]}" "$@" </dev/null >"$logs/rank$k.log" 2>&1 &
  pids[k]=$!
done
[ "$cut_rank" != -1 ] && [ -z "$cut_when" ] && link_cut

# ---- wait: poll every 0.1 s until all have exited or the deadline passes ------------------------
deadline=$((start_ns + timeout_s * 1000000000))
status=()        # exit status by rank, empty while running
ended_s=()
first_fail=-1
running=$workers
timed_out=0
elapsed() { awk -v a="$1" -v b="$(date +%s%N)" 'BEGIN { printf "%.2f", (b - a) / 1e9 }'; }
while [ "$running" -gt 0 ]; do
  for ((k = 0; k < workers; k++)); do
    [ -n "${status[k]:-}" ] && continue
    kill -0 "${pids[k]}" 2>/dev/null && continue
    wait "${pids[k]}" 2>/dev/null
    status[k]=$?
    ended_s[k]=$(elapsed "$start_ns")
    running=$((running - 1))
    if [ "${status[k]}" -ne 0 ] && [ "$first_fail" -eq -1 ]; then
      first_fail=$k
      say "rank $k exited with status ${status[k]} after ${ended_s[k]} s"
      if [ "$stop_on_failure" -eq 1 ] && [ "$running" -gt 0 ]; then
        say "stopping the other $running worker(s)"
        for ((j = 0; j < workers; j++)); do [ -z "${status[j]:-}" ] && kill -TERM "${pids[j]}" 2>/dev/null; done
      fi
    fi
  done
  [ "$running" -eq 0 ] && break
  if [ "$cut_done" -eq 0 ] && [ "$cut_rank" != -1 ] && grep -qE -- "$cut_when" "$logs"/rank*.log 2>/dev/null; then
    link_cut
  fi
  if [ "$(date +%s%N)" -ge "$deadline" ]; then
    timed_out=1
    say "timeout: $running worker(s) still running after ${timeout_s} s; stopping them"
    for ((j = 0; j < workers; j++)); do [ -z "${status[j]:-}" ] && kill -TERM "${pids[j]}" 2>/dev/null; done
    for ((left = 20; left > 0; left--)); do
      alive=0
      for ((j = 0; j < workers; j++)); do [ -z "${status[j]:-}" ] && kill -0 "${pids[j]}" 2>/dev/null && alive=1; done
      [ "$alive" -eq 0 ] && break
      sleep 0.1
    done
    for ((j = 0; j < workers; j++)); do
      [ -n "${status[j]:-}" ] && continue
      kill -KILL "${pids[j]}" 2>/dev/null
      wait "${pids[j]}" 2>/dev/null
      status[j]=$?
      ended_s[j]=$(elapsed "$start_ns")
    done
    break
  fi
  sleep 0.1
done
wall=$(elapsed "$start_ns")

# ---- report --------------------------------------------------------------------------------------
for ((k = 0; k < workers; k++)); do sed "s/^/[$k] /" "$logs/rank$k.log"; done
if [ -n "$relay_pid" ]; then
  kill -TERM "$relay_pid" 2>/dev/null
  for ((left = 20; left > 0; left--)); do kill -0 "$relay_pid" 2>/dev/null || break; sleep 0.1; done
  wait "$relay_pid" 2>/dev/null
  sed "s/^/[relay] /" "$logs/relay.log"
fi
for ((k = 0; k < workers; k++)); do
  # Bytes that crossed rank k's link, counted on the bridge side (what left the namespace = rx there).
  rx=$(ip netns exec "$bridge_ns" cat "/sys/class/net/p$k/statistics/rx_bytes" 2>/dev/null || echo "?")
  tx=$(ip netns exec "$bridge_ns" cat "/sys/class/net/p$k/statistics/tx_bytes" 2>/dev/null || echo "?")
  say "rank $k (gsm$k 10.77.0.$((k + 1))): status ${status[k]} after ${ended_s[k]} s; its link sent $rx bytes, received $tx bytes"
done
if [ "$timed_out" -eq 1 ]; then
  say "timed out after $wall s"
  exit 124
fi
if [ "$first_fail" -ne -1 ]; then
  say "rank $first_fail failed first (status ${status[first_fail]}); wall time $wall s"
  exit "${status[first_fail]}"
fi
say "all $workers worker(s) exited 0; wall time $wall s"
exit 0
