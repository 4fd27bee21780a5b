#!/usr/bin/env bash
# The main job on one machine (DESIGN.md §2, §8; issue 12): bring up the lab, give pods on two
# nodes their network in every mode Fathom offers, prove cross-node connectivity, measure the
# data plane and the control plane beside the classic wiring, print the table, write the report
# and charts, tear the lab down.
#
#   ./run.sh                      as root: the whole demo, short profiles (about 5 minutes on 2 cores)
#   ./run.sh --full               as root: longer profiles, plus the scale runs (bench scale)
#   FATHOM_RUN_QUICK=1 ./run.sh   the shortest profiles (./test.sh's run of this script)
#   FATHOM_LAB_PREFIX=x ./run.sh  another name prefix for everything it makes (default flab)
#
# Everything happens in namespaces named with the lab prefix (flab-*) or fathom-bench-*; the root
# namespace's interfaces, routes and firewall are never touched, and the lab is removed at the end
# even when a step fails. Outputs: artifacts/run/ (every step's raw output) and artifacts/report/
# (report.json, report.md, PNG charts).
set -euo pipefail
cd "$(dirname "$0")"
full=
for arg in "$@"; do
  case $arg in
    --full) full=1 ;;
    -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown argument '$arg' (known: --full)" >&2; exit 2 ;;
  esac
done
if [[ $(id -u) -ne 0 ]]; then echo "run.sh needs root (namespaces, links): sudo ./run.sh, or as root ./run.sh (without sudo: su -c ./run.sh)" >&2; exit 1; fi

# What the demo runs (iperf3, sockperf, jq, dnsmasq, the reference CNI plugins...), also when the build is skipped.
source scripts/prereqs.sh
fathom_install_prereqs
# FATHOM_SKIP_BUILD=1 (./test.sh's run of this script) uses what is already in artifacts/bin.
if [[ -z ${FATHOM_SKIP_BUILD:-} || ! -x artifacts/bin/fathomctl ]]; then ./build.sh; fi
bin=$PWD/artifacts/bin
ctl=$bin/fathomctl
export FATHOM_LAB_PREFIX=${FATHOM_LAB_PREFIX:-flab}
P=$FATHOM_LAB_PREFIX
run=$PWD/artifacts/run
out=$PWD/artifacts/report
mkdir -p "$run" "$out"
rm -f "$run"/*.json "$out"/*.png "$out"/report.*
# Profiles: quick (tests), default (short), --full. The quick one runs the two loads the targets
# read (tcp1, rtt) and short agent rounds: ./test.sh checks the script's path, not the figures
# (tests/Ctl.Tests' dataplane test runs the other loads, tcp8 and udp, with tcp1 and the floors).
cni_extra=()
if [[ -n $full ]]; then dp=(--seconds 5 --rounds 3) cni_cycles=200
elif [[ -n ${FATHOM_RUN_QUICK:-} ]]; then
  dp=(--seconds 1 --rounds 1 --loads tcp1,rtt) cni_cycles=30
  cni_extra=(--agent-cycles 15 --rounds 1 --churn-seconds 2)
else dp=(--seconds 1 --rounds 2) cni_cycles=60; fi
started=$SECONDS

step() { printf '\n\033[1m== %s\033[0m  (%ds)\n' "$*" $((SECONDS - started)); }
cleanup() {
  local rc=$?
  step "tear down"
  for pod in a b; do ip netns del "$P-pod-$pod" 2>/dev/null || true; done
  "$ctl" lab down || true
  left=$(ip netns list | awk '{print $1}' | grep -c "^$P-" || true)
  echo "namespaces left with prefix $P-: $left"
  ((rc == 0)) && echo "run.sh: done in $((SECONDS - started)) s; report in $out/report.md"
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

step "CNI ADD with fathom: each ENI moves into a pod as eth0 (underlay, exclusive ENI)"
for n in 1 2; do
  pod=$([[ $n == 1 ]] && echo a || echo b)
  ip netns add "$P-pod-$pod"
  conf=$(jq -nc --arg ip "${ENI_IP[$n]}/$prefixlen" --arg gw "$gateway" --arg data "$run/cni-records" '{
    cniVersion: "1.1.0", name: "lab-underlay", type: "fathom", mode: "underlay", device: "eth1",
    dataDir: $data,
    ipam: {type: "static", addresses: [{address: $ip, gateway: $gw}], routes: [{dst: "0.0.0.0/0"}]}}')
  echo "$conf" > "$run/pod-$pod.conf.json"
  # The runtime's contract: env + config on stdin, run in the node's namespace.
  ip netns exec "$P-node$n" env CNI_COMMAND=ADD CNI_CONTAINERID="pod-$pod" \
    CNI_NETNS="/run/netns/$P-pod-$pod" CNI_IFNAME=eth0 CNI_PATH="$bin:/usr/lib/cni" \
    "$bin/fathom" <<<"$conf" | tee "$run/pod-$pod.result.json" | jq -c '{interfaces, ips}'
  "$ctl" lab pod record "$pod" --node "node$n" --netns "$P-pod-$pod" --mode underlay --ip "${ENI_IP[$n]}"
done

step "connectivity: pod a (node1) → pod b (node2), pod → gateway, node1 → pod b"
ip netns exec "$P-pod-a" ping -c 3 -W 2 "${ENI_IP[2]}"
ip netns exec "$P-pod-b" ping -c 1 -W 2 "$gateway"
ip netns exec "$P-node1" ping -c 1 -W 2 "${ENI_IP[2]}"

step "CNI DEL: the ENIs go back to their nodes under their own names"
for n in 1 2; do
  pod=$([[ $n == 1 ]] && echo a || echo b)
  ip netns exec "$P-node$n" env CNI_COMMAND=DEL CNI_CONTAINERID="pod-$pod" \
    CNI_NETNS="/run/netns/$P-pod-$pod" CNI_IFNAME=eth0 CNI_PATH="$bin:/usr/lib/cni" \
    "$bin/fathom" < "$run/pod-$pod.conf.json"
  ip netns del "$P-pod-$pod"
  ip -n "$P-node$n" -br link show eth1
done

step "node agents: a pod in every mode on each node, from fathom-agent's pools; nobody names a device"
"$ctl" lab down >/dev/null
# Each node also runs containerd with its CRI plugin, pointed at the fathom conflists (issue 11).
"$ctl" lab up --nodes 2 --instance-type m5.large --runtime containerd | grep -E '^  (node|agent) '
: > "$run/agent-pods.json"
declare -A POD_IP
offered=()
for mode in underlay shared host-gw overlay; do
  short=${mode%%-*}
  if added=$("$ctl" lab pod add "${short:0:2}1" --node node1 --mode "$mode" --json 2>&1) &&
     added2=$("$ctl" lab pod add "${short:0:2}2" --node node2 --mode "$mode" --json 2>&1); then
    printf '%s\n%s\n' "$added" "$added2" | tee -a "$run/agent-pods.json"
    POD_IP[$mode]=$(jq -r .ip <<<"$added2")
    offered+=("$mode")
  elif grep -q "is not one of" <<<"$added${added2:-}"; then
    echo "mode $mode: not offered by this build ($(grep -o "is not one of.*" <<<"$added${added2:-}" | head -1))"
    "$ctl" lab pod del "${short:0:2}1" >/dev/null 2>&1 || true
  else
    echo "mode $mode: pod add failed: $added ${added2:-}" >&2
    exit 1
  fi
done
echo "modes with pods on both nodes: ${offered[*]}"

step "cross-node connectivity: every mode's pod on node1 → its peer on node2, and → the underlay pod on node2"
for mode in "${offered[@]}"; do
  short=${mode%%-*}
  "$ctl" lab pod exec "${short:0:2}1" -- ping -c 2 -W 2 "${POD_IP[$mode]}" | grep -E 'packets transmitted' | sed "s/^/$mode → $mode: /"
done
"$ctl" lab pod exec sh1 -- ping -c 3 -W 2 "${POD_IP[underlay]}"
"$ctl" status --node node1 > "$run/agent-status-node1.txt" && sed -n '3,6p' "$run/agent-status-node1.txt"

step "across modes: each mode's pod on node1 → the other modes' pods on node2 (docs/modes.md, \"Across modes\")"
for from in "${offered[@]}"; do
  short=${from%%-*} line="$from →"
  for to in "${offered[@]}"; do
    [[ $to == "$from" ]] && continue
    if "$ctl" lab pod exec "${short:0:2}1" -- ping -c 3 -i 0.2 -W 1 "${POD_IP[$to]}" >/dev/null 2>&1; then line+=" $to ok"; else line+=" $to FAILED"; fi
  done
  echo "$line"
done
for mode in "${offered[@]}"; do short=${mode%%-*}; for n in 1 2; do "$ctl" lab pod del "${short:0:2}$n"; done; done

step "Kubernetes' path: containerd's CRI starts a sandbox as the kubelet does (RunPodSandbox); fathom gives it an ENI"
"$ctl" lab sandbox run cri-web --node node1 --mode underlay --namespace demo
"$ctl" lab sandbox rm cri-web

step "benchmark: the data plane — every mode and the classic wiring, as shares of node↔node (${dp[*]})"
"$ctl" bench dataplane "${dp[@]}" --json "$run/dataplane.json" | tee "$run/bench-dataplane.txt"

step "benchmark: the control plane — CNI ADD/DEL, fathom against the reference plugins ($cni_cycles cycles)"
cni_json=()
if "$ctl" bench cni --help | grep -q -- '--json'; then cni_json=(--json "$run/cni.json"); fi
"$ctl" bench cni --cycles "$cni_cycles" "${cni_extra[@]}" "${cni_json[@]}" | tee "$run/bench-cni.txt"

scale_json=()
if [[ -n $full ]]; then
  step "benchmark: scale — 4 × c5.4xlarge filled, then 100 simulated agents under EC2's account limits"
  "$ctl" lab down >/dev/null
  "$ctl" bench scale --lab-prefix "${P}s" --json "$run/scale.json" | tee "$run/bench-scale.txt"
  scale_json=(--scale "$run/scale.json")
fi

step "report: every DESIGN.md §9 target with its measured value; report.json, report.md, charts"
report_in=(--dataplane "$run/dataplane.json" "${scale_json[@]}")
[[ -f $run/cni.json ]] && report_in+=(--cni "$run/cni.json")
"$ctl" bench report "${report_in[@]}" --out "$out"
