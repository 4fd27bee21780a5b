#!/usr/bin/env bash
# What the MTU alone does to one TCP stream on this kernel (docs/benchmarks.md, "What the MTU
# changes"): node a — bridge — node b, each a namespace, no pod, no encapsulation, no br_netfilter;
# every link at the MTU under test. Each round measures every MTU once (iperf3, 1 stream, cubic unless
# -c), in turn, and reads the receiver's socket in the middle of the stream (ss -tinm): its buffer and
# the window it advertises; the sender's congestion window then, and its retransmissions (iperf3's
# count: on these veths they are spurious, packets delivered out of order by the two CPUs' backlogs,
# which -R can steer to one).
#
# Usage: scripts/mtu-stream.sh [-m "1500 1450 …"] [-s SECONDS] [-r ROUNDS] [-c CONGESTION] [-a C,S] [-R MASK] [-S "KEY=VALUE …"] [-p PREFIX]
#   -a  pin iperf3's client and server (iperf3 -A C,S), e.g. 0,1; default: unpinned
#   -R  RPS on every veth that receives (rps_cpus, a hex CPU mask, e.g. 3): a flow's packets then
#       go through one CPU's backlog, in order, whichever CPU sent them; default: off
#   -S  sysctls set in both nodes' namespaces first, e.g. "net.ipv4.tcp_reordering=300"
# Needs root, iproute2, iperf3, jq.
set -euo pipefail

MTUS="1500 1450"
SECONDS_PER_RUN=2
ROUNDS=3
CONGESTION=cubic
AFFINITY=
RPS=
SYSCTLS=
PREFIX=fmtu-
while getopts "m:s:r:c:a:R:S:p:" opt; do
  case $opt in
    m) MTUS=$OPTARG ;;
    s) SECONDS_PER_RUN=$OPTARG ;;
    r) ROUNDS=$OPTARG ;;
    c) CONGESTION=$OPTARG ;;
    a) AFFINITY=$OPTARG ;;
    R) RPS=$OPTARG ;;
    S) SYSCTLS=$OPTARG ;;
    p) PREFIX=$OPTARG ;;
    *) echo "usage: $0 [-m \"1500 1450\"] [-s SECONDS] [-r ROUNDS] [-c CONGESTION] [-a C,S] [-R MASK] [-S \"KEY=VALUE …\"] [-p PREFIX]" >&2; exit 2 ;;
  esac
done
[[ $(id -u) == 0 ]] || { echo "$0: needs root (network namespaces)" >&2; exit 1; }
for tool in ip iperf3 jq ss; do command -v "$tool" >/dev/null || { echo "$0: needs $tool" >&2; exit 1; }; done

a=${PREFIX}a b=${PREFIX}b f=${PREFIX}f
pidfile=$(mktemp)
cleanup() {
  [[ -s $pidfile ]] && kill "$(cat "$pidfile")" 2>/dev/null || true
  rm -f "$pidfile"
  for ns in "$a" "$b" "$f"; do ip netns del "$ns" 2>/dev/null || true; done
}
trap cleanup EXIT

cleanup
for ns in "$a" "$b" "$f"; do ip netns add "$ns"; ip -n "$ns" link set lo up; done
for family in iptables ip6tables arptables; do ip netns exec "$f" sysctl -qew "net.bridge.bridge-nf-call-$family=0" || true; done
ip -n "$f" link add br0 type bridge
ip -n "$f" link set br0 up
for ns in "$a" "$b"; do
  ip -n "$f" link add "p-$ns" type veth peer name eth0 netns "$ns"
  ip -n "$f" link set "p-$ns" master br0 up
  ip -n "$ns" link set eth0 up
done
ip -n "$a" addr add 10.99.0.1/24 dev eth0
ip -n "$b" addr add 10.99.0.2/24 dev eth0
for setting in $SYSCTLS; do
  for ns in "$a" "$b"; do ip netns exec "$ns" sysctl -qw "$setting"; done
done
if [[ -n $RPS ]]; then
  for ns in "$a" "$b"; do ip netns exec "$ns" sh -c "echo $RPS > /sys/class/net/eth0/queues/rx-0/rps_cpus"; done
  for ns in "$a" "$b"; do ip netns exec "$f" sh -c "echo $RPS > /sys/class/net/p-$ns/queues/rx-0/rps_cpus"; done
fi
ip netns exec "$b" iperf3 -s -D -p 5299 -B 10.99.0.2 --pidfile "$pidfile"

set_mtu() {
  local mtu=$1
  # The bridge follows its ports down but not up: raise it first, lower it last.
  ip -n "$f" link set br0 mtu "$mtu" 2>/dev/null || true
  for ns in "$a" "$b"; do
    ip -n "$f" link set "p-$ns" mtu "$mtu"
    ip -n "$ns" link set eth0 mtu "$mtu"
  done
  ip -n "$f" link set br0 mtu "$mtu"
}

placement=unpinned
[[ -n $AFFINITY ]] && placement="on CPUs $AFFINITY (client,server)"
echo "one TCP stream a → b through a bridge, $CONGESTION, ${SECONDS_PER_RUN} s per run, $ROUNDS round(s), iperf3 $placement${RPS:+, RPS $RPS}${SYSCTLS:+, $SYSCTLS}"
printf '%-6s %-6s %10s %8s %6s %14s %14s\n' round mtu Gbit/s retrans cwnd "rcv buffer" "rcv window"
declare -A all
for ((round = 1; round <= ROUNDS; round++)); do
  for mtu in $MTUS; do
    set_mtu "$mtu"
    sleep 0.2
    # The receiver's socket halfway through: skmem rb (its buffer) and the window the sender sees (snd_wnd).
    (sleep "$(awk "BEGIN{print $SECONDS_PER_RUN / 2}")"
     ip netns exec "$b" ss -tinmH state established src 10.99.0.2:5299 >"$pidfile.rcv" 2>/dev/null
     ip netns exec "$a" ss -tiH state established dst 10.99.0.2:5299 >"$pidfile.snd" 2>/dev/null) &
    watcher=$!
    read -r gbits retrans < <(ip netns exec "$a" iperf3 -c 10.99.0.2 -p 5299 -C "$CONGESTION" -t "$SECONDS_PER_RUN" ${AFFINITY:+-A "$AFFINITY"} -J |
      jq -r '"\(.end.sum_received.bits_per_second / 1e9 * 100 | round / 100) \(.end.sum_sent.retransmits)"')
    wait "$watcher" || true
    rb=$(grep -o 'rb[0-9]*' "$pidfile.rcv" | sort -t b -k2 -n | tail -1 | tr -d rb)
    wnd=$(grep -o 'snd_wnd:[0-9]*' "$pidfile.snd" | cut -d: -f2 | sort -n | tail -1)
    cwnd=$(grep -o ' cwnd:[0-9]*' "$pidfile.snd" | cut -d: -f2 | sort -n | tail -1)  # the data connection's, not iperf3's control one
    printf '%-6s %-6s %10s %8s %6s %12s B %12s B\n' "$round" "$mtu" "$gbits" "$retrans" "${cwnd:-?}" "${rb:-?}" "${wnd:-?}"
    all[$mtu]+="$gbits "
  done
done
rm -f "$pidfile.rcv" "$pidfile.snd"
echo "medians:"
for mtu in $MTUS; do
  printf '  MTU %-6s %s Gbit/s\n' "$mtu" "$(tr ' ' '\n' <<<"${all[$mtu]}" | grep . | sort -n | awk '{v[NR]=$1} END{print (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2)}')"
done
