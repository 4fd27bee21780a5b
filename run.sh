#!/usr/bin/env bash
# The main job on one machine (DESIGN.md §2): bring up the lab, give two pods on two nodes
# their own ENI with the `fathom` CNI plugin, prove connectivity, measure, tear down.
#
#   sudo ./run.sh                 the whole demo (about 3 minutes on 2 cores)
#   FATHOM_RUN_QUICK=1 ./run.sh   shorter benchmarks
#   FATHOM_LAB_PREFIX=x ./run.sh  another name prefix for everything it makes (default flab)
#
# Everything happens in namespaces named with the lab prefix (flab-*); the root namespace's
# interfaces, routes and firewall are never touched, and the lab is removed at the end even
# when a step fails.
set -euo pipefail
cd "$(dirname "$0")"
if [[ $(id -u) -ne 0 ]]; then echo "run.sh needs root (namespaces, links): sudo ./run.sh" >&2; exit 1; fi

# The tools the demo runs (iperf3, jq, dnsmasq...), also when the build is skipped.
source scripts/prereqs.sh
fathom_install_prereqs
# FATHOM_SKIP_BUILD=1 (./test.sh's run of this script) uses what is already in artifacts/bin.
if [[ -z ${FATHOM_SKIP_BUILD:-} || ! -x artifacts/bin/fathomctl ]]; then ./build.sh; fi
bin=$PWD/artifacts/bin
ctl=$bin/fathomctl
export FATHOM_LAB_PREFIX=${FATHOM_LAB_PREFIX:-flab}
P=$FATHOM_LAB_PREFIX
report=$PWD/artifacts/run
mkdir -p "$report"
if [[ -n ${FATHOM_RUN_QUICK:-} ]]; then secs=3 nl_cycles=100 cni_cycles=50; else secs=8 nl_cycles=300 cni_cycles=200; fi

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
cleanup() {
  local rc=$?
  step "tear down"
  for pod in a b; do ip netns del "$P-pod-$pod" 2>/dev/null || true; done
  "$ctl" lab down || true
  left=$(ip netns list | awk '{print $1}' | grep -c "^$P-" || true)
  echo "namespaces left with prefix $P-: $left"
  exit $rc
}
trap cleanup EXIT

step "lab up: a VPC with 2 × m5.large nodes (emulated EC2 API, IMDSv2, DHCP)"
"$ctl" lab down >/dev/null 2>&1 || true
# First the seed article's gesture, by hand: no node agents, each ENI named in the config.
"$ctl" lab up --nodes 2 --instance-type m5.large --no-agents

step "attach one ENI to each node through the EC2 API (hot-plug: eth1 appears in the node)"
declare -A ENI_IP
for n in 1 2; do
  line=$("$ctl" lab attach --node "node$n")
  echo "$line"
  ENI_IP[$n]=$(awk '{print $3}' <<<"$line")
done
ip -n "$P-node1" -br link show eth1

status=$("$ctl" lab status --json)
gateway=$(jq -r '.subnets[0].gateway' <<<"$status")
prefixlen=$(jq -r '.subnets[0].cidr' <<<"$status" | cut -d/ -f2)
node2_ip=$(jq -r '.nodes[1].primaryIp' <<<"$status")

step "CNI ADD with fathom: each ENI moves into a pod as eth0 (underlay, exclusive ENI)"
for n in 1 2; do
  pod=$([[ $n == 1 ]] && echo a || echo b)
  ip netns add "$P-pod-$pod"
  conf=$(jq -nc --arg ip "${ENI_IP[$n]}/$prefixlen" --arg gw "$gateway" --arg data "$report/cni-records" '{
    cniVersion: "1.1.0", name: "lab-underlay", type: "fathom", mode: "underlay", device: "eth1",
    dataDir: $data,
    ipam: {type: "static", addresses: [{address: $ip, gateway: $gw}], routes: [{dst: "0.0.0.0/0"}]}}')
  echo "$conf" > "$report/pod-$pod.conf.json"
  # The runtime's contract: env + config on stdin, run in the node's namespace.
  ip netns exec "$P-node$n" env CNI_COMMAND=ADD CNI_CONTAINERID="pod-$pod" \
    CNI_NETNS="/run/netns/$P-pod-$pod" CNI_IFNAME=eth0 CNI_PATH="$bin:/usr/lib/cni" \
    "$bin/fathom" <<<"$conf" | tee "$report/pod-$pod.result.json" | jq -c '{interfaces, ips}'
  "$ctl" lab pod record "$pod" --node "node$n" --netns "$P-pod-$pod" --mode underlay --ip "${ENI_IP[$n]}"
done
"$ctl" lab status

step "connectivity: pod a (node1) → pod b (node2), pod → gateway, node1 → pod b"
ip netns exec "$P-pod-a" ping -c 3 -W 2 "${ENI_IP[2]}"
ip netns exec "$P-pod-b" ping -c 1 -W 2 "$gateway"
ip netns exec "$P-node1" ping -c 1 -W 2 "${ENI_IP[2]}"

step "data plane: one TCP stream, node↔node baseline against pod↔pod over underlay ENIs"
iperf() { # client-netns server-netns server-ip
  ip netns exec "$2" iperf3 -s -1 -D -I "$report/iperf3.pid" >/dev/null
  # The daemon listens a moment after it forks (longer on a loaded machine); each try is bounded
  # by --connect-timeout, so a broken path fails within about 40 s instead of TCP's 2 minutes.
  for _ in $(seq 30); do
    ip netns exec "$1" iperf3 -c "$3" -t "$secs" -J --connect-timeout 1000 > "$report/iperf3-$1.json" && break
    sleep 0.3
  done
  jq -e '.end.sum_received.bits_per_second / 1e9' "$report/iperf3-$1.json" 2>/dev/null ||
    { echo "iperf3 $1 → $3 failed: $(jq -r .error "$report/iperf3-$1.json" 2>/dev/null)" >&2; return 1; }
}
base=$(iperf "$P-node1" "$P-node2" "$node2_ip")
under=$(iperf "$P-pod-a" "$P-pod-b" "${ENI_IP[2]}")
printf '%-22s %8.2f Gbit/s\n' "node↔node" "$base" "underlay pod↔pod" "$under"
awk -v b="$base" -v u="$under" 'BEGIN { printf "underlay / node↔node: %.1f %%\n", 100*u/b }' | tee "$report/dataplane.txt"

step "CNI DEL: the ENIs go back to their nodes under their own names"
for n in 1 2; do
  pod=$([[ $n == 1 ]] && echo a || echo b)
  ip netns exec "$P-node$n" env CNI_COMMAND=DEL CNI_CONTAINERID="pod-$pod" \
    CNI_NETNS="/run/netns/$P-pod-$pod" CNI_IFNAME=eth0 CNI_PATH="$bin:/usr/lib/cni" \
    "$bin/fathom" < "$report/pod-$pod.conf.json"
  ip netns del "$P-pod-$pod"
  ip -n "$P-node$n" -br link show eth1
done

step "node agents: fathom-agent in every node takes ENIs and IPs from the EC2 API; nobody names a device"
"$ctl" lab down >/dev/null
"$ctl" lab up --nodes 2 --instance-type m5.large | grep -E '^  (node|agent) '
: > "$report/agent-pods.json"
ip_u1=$("$ctl" lab pod add u1 --node node1 --mode underlay --json | tee -a "$report/agent-pods.json" | jq -r .ip)
ip_s2=$("$ctl" lab pod add s2 --node node2 --mode shared --json | tee -a "$report/agent-pods.json" | jq -r .ip)
cat "$report/agent-pods.json"
"$ctl" lab pod exec u1 -- ping -c 3 -W 2 "$ip_s2"
"$ctl" status --node node1 > "$report/agent-status-node1.txt" && sed -n '3,6p' "$report/agent-status-node1.txt"
"$ctl" lab pod del u1 && "$ctl" lab pod del s2

step "benchmark: Fathom.Netlink against ip(8)"
"$ctl" bench netlink --cycles "$nl_cycles" | tee "$report/bench-netlink.txt"

step "benchmark: fathom against the reference host-device plugin"
"$ctl" bench cni --cycles "$cni_cycles" | tee "$report/bench-cni.txt"

step "done: outputs in $report/"
