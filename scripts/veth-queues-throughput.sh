#!/usr/bin/env bash
# What one queue per veth end (NodeVeth.Queues) does to a pod's throughput (docs/modes.md, "The veth";
# docs/benchmarks.md, "Fewer requests, one queue, no calibration"): two node namespaces joined by a
# veth, and on each node two pods wired as host-gw wires them (GRO on at both ends, the pod's /32,
# its default route onlink via 169.254.1.1, the node's /32 route) — one pod pair on veths with one TX
# and one RX queue, the other with the kernel's default (one per possible CPU). iperf3 TCP, one
# stream and eight, pod to pod across the nodes, the two pairs in turn, ROUNDS times; prints every run
# in Gbit/s. Read the medians side by side: single runs swing by a third on this machine.
#
#   sudo scripts/veth-queues-throughput.sh [ROUNDS=6] [SECONDS=2]
#
# Everything it makes is in namespaces named fvethqt-<pid>-*, removed on exit with the iperf3
# servers it started.
set -euo pipefail
rounds=${1:-6}; seconds=${2:-2}
[[ $(id -u) -eq 0 ]] || { echo "veth-queues-throughput: run as root (it makes network namespaces)" >&2; exit 1; }
for tool in iperf3 ethtool; do
  command -v "$tool" >/dev/null || { echo "veth-queues-throughput: needs $tool (apt install $tool)" >&2; exit 1; }
done
p=fvethqt-$$
work=$(mktemp -d /tmp/fvethqt.XXXXXX)
cleanup() {
  for pid in "$work"/*.pid; do [[ -f $pid ]] && kill "$(cat "$pid")" 2>/dev/null; done
  for n in n1 n2 p1one p1default p2one p2default; do ip netns del "$p-$n" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT
for n in n1 n2 p1one p1default p2one p2default; do ip netns add "$p-$n"; ip -n "$p-$n" link set lo up; done
ip -n "$p-n1" link add e0 type veth peer name e0 netns "$p-n2"
for n in 1 2; do
  ip -n "$p-n$n" addr add "10.99.0.$n/24" dev e0
  ip -n "$p-n$n" link set e0 up
  ip netns exec "$p-n$n" sysctl -qw net.ipv4.ip_forward=1
  other=$((3 - n))
  ip -n "$p-n$n" route add "10.98.$other.0/24" via "10.99.0.$other"
  for q in one default; do
    opts=""; host=3
    [[ $q == one ]] && { opts="numtxqueues 1 numrxqueues 1"; host=2; }
    ip -n "$p-n$n" link add "h$q" $opts type veth peer name eth0 $opts netns "$p-p$n$q"
    ip -n "$p-n$n" link set "h$q" up
    ip -n "$p-p$n$q" link set eth0 up
    ip netns exec "$p-n$n" ethtool -K "h$q" gro on >/dev/null
    ip netns exec "$p-p$n$q" ethtool -K eth0 gro on >/dev/null
    mac=$(ip -n "$p-n$n" -br link show "h$q" | awk '{ print $3 }')
    ip -n "$p-p$n$q" addr add "10.98.$n.$host/32" dev eth0
    ip -n "$p-p$n$q" neigh replace 169.254.1.1 lladdr "$mac" dev eth0 nud permanent
    ip -n "$p-p$n$q" route add default via 169.254.1.1 dev eth0 onlink
    ip -n "$p-n$n" route add "10.98.$n.$host/32" dev "h$q" scope link
  done
done
ip netns exec "$p-p2one" iperf3 -s -D -p 5301 -I "$work/one.pid" --logfile "$work/one.log"
ip netns exec "$p-p2default" iperf3 -s -D -p 5302 -I "$work/default.pid" --logfile "$work/default.log"
sleep 0.5
printf '%-6s %-8s %-22s %s\n' round streams "queues per veth end" Gbit/s
for ((r = 1; r <= rounds; r++)); do
  for streams in 1 8; do
    for q in one default; do
      if [[ $q == one ]]; then dst=10.98.2.2 port=5301; else dst=10.98.2.3 port=5302; fi
      gbits=$(ip netns exec "$p-p1$q" iperf3 -c "$dst" -p "$port" -t "$seconds" -P "$streams" -f g |
              awk '/receiver/ { rate = $(NF - 2) } END { print rate }')
      printf '%-6s %-8s %-22s %s\n' "$r" "$streams" "$q" "$gbits"
    done
  done
done
