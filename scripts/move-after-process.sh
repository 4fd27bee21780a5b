#!/usr/bin/env bash
# How long a netns move takes right after a process ran, against one right after the previous move:
# `ip link set X netns N` of a veth end between two namespaces of its own (prefix fcmv-), 50 ms
# apart, each kind in turn, timed with bash's EPOCHREALTIME; prints each kind's median and quartiles.
# The question it answers (docs/benchmarks.md, "Where an underlay ADD goes"): does the kernel's
# rcu_barrier() in a move wait longer when a process's start and exit have just queued RCU callbacks?
#
#   sudo scripts/move-after-process.sh [N]     N moves of each kind (default 60)
#   KINDS="none fathom true go" sudo scripts/move-after-process.sh
#
# none: nothing before the move; fathom: artifacts/bin/fathom VERSION; true: /bin/true;
# go: the reference host-device VERSION (/usr/lib/cni/host-device).
set -euo pipefail
[[ $(id -u) -eq 0 ]] || { echo "move-after-process: needs root (ip netns)" >&2; exit 1; }
n=${1:-60}
top=$(cd "$(dirname "$0")/.." && pwd)
read -r -a kinds <<< "${KINDS:-none fathom true}"
cleanup() { ip netns del fcmv-a 2>/dev/null || true; ip netns del fcmv-b 2>/dev/null || true; }
trap cleanup EXIT
cleanup
ip netns add fcmv-a
ip netns add fcmv-b
ip -n fcmv-a link add fcmvx type veth peer name fcmvy
before() {
  case $1 in
    none) ;;
    fathom) CNI_COMMAND=VERSION "$top/artifacts/bin/fathom" <<< '{"cniVersion":"1.1.0"}' > /dev/null ;;
    true) /bin/true ;;
    go) CNI_COMMAND=VERSION /usr/lib/cni/host-device <<< '{"cniVersion":"1.1.0"}' > /dev/null ;;
    *) echo "move-after-process: unknown kind $1" >&2; exit 2 ;;
  esac
}
declare -A times
here=fcmv-a
for ((i = 0; i < n * ${#kinds[@]}; i++)); do
  kind=${kinds[i % ${#kinds[@]}]}
  there=$([[ $here == fcmv-a ]] && echo fcmv-b || echo fcmv-a)
  before "$kind"
  t0=$EPOCHREALTIME
  ip -n "$here" link set fcmvx netns "$there"
  t1=$EPOCHREALTIME
  times[$kind]+="$(( ${t1/./} - ${t0/./} )) "
  here=$there
  sleep 0.05
done
for kind in "${kinds[@]}"; do
  tr ' ' '\n' <<< "${times[$kind]}" | grep . | sort -n |
    awk -v k="$kind" '{a[NR]=$1} END {printf "%-7s median %6.2f ms  p25 %6.2f  p75 %6.2f  (%d moves)\n", k, a[int((NR+1)/2)]/1000, a[int(NR/4)+1]/1000, a[int(NR*3/4)]/1000, NR}'
done
