#!/usr/bin/env bash
# Feasibility measurement for issue 10 §4: does a tc BPF redirect (bpf_redirect_peer into the pod,
# bpf_redirect from the pod's host-side veth, routes still the kernel's via bpf_fib_lookup) lift
# host-gw and overlay pods toward node↔node, where the kernel's forwarding cannot (its floor, one
# plain veth hop per side, reads 0.84; docs/benchmarks.md, dataplane)?
#
# Two node pairs on one fabric bridge, wired alike (Fathom's NodeVeth wiring done with iproute2:
# veth, pod /32, default via 169.254.1.1 onlink with a permanent neighbour, node /32 route and
# permanent neighbour, GRO on both ends; VXLAN as VxlanOverlay makes it, learning off, MTU 1450):
#   pair A (10.80.0.1/.2): the kernel's forwarding, plus the bridge wiring (flannel's: cni0 + veth)
#   pair B (10.80.0.3/.4): the same, plus scripts/bpf/redirect.c's programs on clsact:
#       to_pod   on eth0 ingress (host-gw) and on the VXLAN device's ingress (overlay)
#       from_pod on every pod's host-side veth ingress
#   pair C (10.80.0.5/.6): overlay whose VXLAN the programs do themselves: from_pod wraps and sends
#       out of eth0, from_vxlan on eth0 unwraps into the pod
#   and the overlay's MTU alone: host-gw (bpf) pods at 1450 on pair B, node↔node at 1450 on pair A
# Every round measures every wiring once (one TCP stream, iperf3, cubic), in turn, so the machine's
# drift lands on all alike; ratios are to pair A's node↔node of the same round; medians printed.
#
# Usage: scripts/bpf-dataplane.sh [-s SECONDS] [-r ROUNDS] [-p NETNS_PREFIX] [-g on|off] [-k]
#   -g   GRO on the pods' veths (default on, as NodeVeth sets it)   -k  keep the namespaces (debug)
# Needs root, iproute2 with libbpf (tc … bpf obj), clang (-target bpf), iperf3, jq, ethtool.
set -euo pipefail

SECONDS_PER_RUN=2
ROUNDS=3
PREFIX=fbpf-
GRO=on
KEEP=0
while getopts "s:r:p:g:k" opt; do
  case $opt in
    s) SECONDS_PER_RUN=$OPTARG ;;
    r) ROUNDS=$OPTARG ;;
    p) PREFIX=$OPTARG ;;
    g) GRO=$OPTARG ;;
    k) KEEP=1 ;;
    *) echo "usage: $0 [-s SECONDS] [-r ROUNDS] [-p NETNS_PREFIX] [-g on|off] [-k]" >&2; exit 2 ;;
  esac
done
[[ $(id -u) == 0 ]] || { echo "$0: needs root (network namespaces, tc)" >&2; exit 1; }
for tool in clang tc iperf3 jq ethtool; do
  command -v "$tool" >/dev/null || { echo "$0: $tool is not installed" >&2; exit 1; }
done

HERE=$(cd "$(dirname "$0")" && pwd)
WORK=$(mktemp -d "/tmp/${PREFIX}XXXX")
FABRIC=${PREFIX}fabric
NAMESPACES=()
PIDS=()

cleanup() {
  local pid ns
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  if [[ $KEEP == 0 ]]; then
    for ns in "${NAMESPACES[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

newns() { ip netns add "$1"; NAMESPACES+=("$1"); ip -n "$1" link set lo up; }
nsx() { local ns=$1; shift; ip netns exec "$ns" "$@"; }
mac_of() { ip -n "$1" -br link show "$2" | awk '{print $3}'; }

# be32 PREFIX/LEN -> the u32 the program loads for the address and for the mask (network order read little-endian)
be32() { python3 -c 'import ipaddress,sys; n=ipaddress.ip_network(sys.argv[1]); print(hex(int.from_bytes(n.network_address.packed,"little")), hex(int.from_bytes(n.netmask.packed,"little")))' "$1"; }
# build NAME LOCAL_PREFIX: an object whose to_pod takes LOCAL_PREFIX (a node's pod subnet) and whose
# from_pod takes the cluster's pod CIDR (here 10.242.0.0/15: both of pair B's ranges), as PodRedirect writes them in;
# -g -DCO_RE: the conntrack kfuncs and nf_conn's status offset resolved by tc's libbpf (redirect.c).
build() {
  local local_net local_mask cluster_net cluster_mask
  read -r local_net local_mask <<<"$(be32 "$2")"
  read -r cluster_net cluster_mask <<<"$(be32 10.242.0.0/15)"
  clang -O2 -g -mcpu=v3 -target bpf -I/usr/include/x86_64-linux-gnu -DCO_RE -DLOCAL_NET="$local_net" -DLOCAL_MASK="$local_mask" \
    -DCLUSTER_NET="$cluster_net" -DCLUSTER_MASK="$cluster_mask" -c "$HERE/bpf/redirect.c" -o "$WORK/$1.o"
}

# ---- the fabric: the VPC subnet on one bridge ----
newns "$FABRIC"
ip -n "$FABRIC" link add br0 address 02:fa:b0:00:00:fe mtu 1500 type bridge  # set by hand: 1450 ports do not lower it
ip -n "$FABRIC" link set br0 up
for f in iptables ip6tables arptables; do nsx "$FABRIC" sysctl -qew "net.bridge.bridge-nf-call-$f=0" || true; done

# node NAME IP: a node namespace whose eth0 is a veth to the fabric's bridge.
node() {
  local ns=$1 ip=$2 port=$3
  newns "$ns"
  ip -n "$FABRIC" link add "$port" type veth peer name eth0 netns "$ns"
  ip -n "$FABRIC" link set "$port" master br0 up
  ip -n "$ns" addr add "$ip/24" dev eth0
  ip -n "$ns" link set eth0 up
  nsx "$ns" sysctl -qw net.ipv4.ip_forward=1
  # ARP answered only on the NIC that holds the address (pair A has a second NIC on the bridge).
  nsx "$ns" sysctl -qw net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2
}

# pod NODE POD HOSTEND IP MTU: Fathom's NodeVeth wiring, with iproute2.
pod() {
  local node=$1 pod=$2 host=$3 ip=$4 mtu=$5
  newns "$pod"
  ip -n "$node" link add "$host" mtu "$mtu" type veth peer name eth0 mtu "$mtu" netns "$pod"
  ip -n "$node" link set "$host" up
  ip -n "$pod" addr add "$ip/32" dev eth0
  ip -n "$pod" link set eth0 up
  ip -n "$pod" neigh replace 169.254.1.1 lladdr "$(mac_of "$node" "$host")" dev eth0 nud permanent
  ip -n "$pod" route add 169.254.1.1 dev eth0 scope link
  ip -n "$pod" route add default via 169.254.1.1 dev eth0 onlink
  nsx "$pod" ethtool -K eth0 gro "$GRO"
  nsx "$node" ethtool -K "$host" gro "$GRO"
  ip -n "$node" route replace "$ip/32" dev "$host" scope link
  ip -n "$node" neigh replace "$ip" lladdr "$(mac_of "$pod" eth0)" dev "$host" nud permanent
}

# bridge_pod NODE POD BRIDGE GW/24 IP MTU: flannel's wiring (the bridge plugin's, isDefaultGateway).
bridge_pod() {
  local node=$1 pod=$2 br=$3 gw=$4 ip=$5 mtu=$6
  if ! ip -n "$node" link show "$br" >/dev/null 2>&1; then
    ip -n "$node" link add "$br" mtu "$mtu" type bridge
    ip -n "$node" addr add "$gw" dev "$br"
    ip -n "$node" link set "$br" up
  fi
  newns "$pod"
  ip -n "$node" link add "v${pod: -3}" mtu "$mtu" type veth peer name eth0 mtu "$mtu" netns "$pod"
  ip -n "$node" link set "v${pod: -3}" master "$br" up
  ip -n "$pod" addr add "$ip/24" dev eth0
  ip -n "$pod" link set eth0 up
  ip -n "$pod" route add default via "${gw%/*}"
}

# vtep NODE LOCALIP MAC VTEPADDR: VxlanOverlay's device (VNI 1, port 4789, learning off, MTU 1450).
vtep() {
  local node=$1 local=$2 mac=$3 addr=$4 dev=${5:-fathom.1} vni=${6:-1} port=${7:-4789}
  ip -n "$node" link add "$dev" address "$mac" type vxlan id "$vni" local "$local" dev eth0 dstport "$port" nolearning
  ip -n "$node" link set "$dev" mtu 1450 up
  ip -n "$node" addr add "$addr/32" dev "$dev"
}

# peer NODE SUBNET VTEPADDR MAC REMOTEIP: the onlink route, permanent neighbour and FDB entry of a remote lease.
peer() {
  local node=$1 subnet=$2 vaddr=$3 mac=$4 remote=$5 dev=${6:-fathom.1}
  ip -n "$node" neigh replace "$vaddr" lladdr "$mac" dev "$dev" nud permanent
  nsx "$node" bridge fdb replace "$mac" dev "$dev" dst "$remote" self permanent
  ip -n "$node" route add "$subnet" via "$vaddr" dev "$dev" onlink
}

attach() { # attach NS DEV SECTION OBJECT
  tc -n "$1" qdisc add dev "$2" clsact
  tc -n "$1" filter add dev "$2" ingress bpf direct-action obj "$WORK/$4.o" sec "$3"
}

A1=${PREFIX}a1 A2=${PREFIX}a2 B1=${PREFIX}b1 B2=${PREFIX}b2
node "$A1" 10.80.0.1 na1; node "$A2" 10.80.0.2 na2
node "$B1" 10.80.0.3 nb1; node "$B2" 10.80.0.4 nb2

# host-gw: pair A's pods in 10.244.{1,2}.0/24, pair B's in 10.243.{1,2}.0/24; bridge wiring on A in 10.245.
pod "$A1" "${PREFIX}hk1" fhk0 10.244.1.5 1500; pod "$A2" "${PREFIX}hk2" fhk1 10.244.2.5 1500
pod "$B1" "${PREFIX}hb1" fhb0 10.243.1.5 1500; pod "$B2" "${PREFIX}hb2" fhb1 10.243.2.5 1500
bridge_pod "$A1" "${PREFIX}hc1" cni0 10.245.1.1/24 10.245.1.5 1500
bridge_pod "$A2" "${PREFIX}hc2" cni0 10.245.2.1/24 10.245.2.5 1500
ip -n "$A1" route add 10.244.2.0/24 via 10.80.0.2; ip -n "$A2" route add 10.244.1.0/24 via 10.80.0.1
ip -n "$A1" route add 10.245.2.0/24 via 10.80.0.2; ip -n "$A2" route add 10.245.1.0/24 via 10.80.0.1
ip -n "$B1" route add 10.243.2.0/24 via 10.80.0.4; ip -n "$B2" route add 10.243.1.0/24 via 10.80.0.3

# overlay: pair A's pods in 10.246, pair B's in 10.242, flannel's (bridge) wiring on A in 10.247.
vtep "$A1" 10.80.0.1 02:fa:00:00:00:01 10.246.1.0; vtep "$A2" 10.80.0.2 02:fa:00:00:00:02 10.246.2.0
vtep "$B1" 10.80.0.3 02:fa:00:00:00:03 10.242.1.0; vtep "$B2" 10.80.0.4 02:fa:00:00:00:04 10.242.2.0
peer "$A1" 10.246.2.0/24 10.246.2.0 02:fa:00:00:00:02 10.80.0.2; peer "$A2" 10.246.1.0/24 10.246.1.0 02:fa:00:00:00:01 10.80.0.1
peer "$B1" 10.242.2.0/24 10.242.2.0 02:fa:00:00:00:04 10.80.0.4; peer "$B2" 10.242.1.0/24 10.242.1.0 02:fa:00:00:00:03 10.80.0.3
pod "$A1" "${PREFIX}ok1" fok0 10.246.1.5 1450; pod "$A2" "${PREFIX}ok2" fok1 10.246.2.5 1450
pod "$B1" "${PREFIX}ob1" fob0 10.242.1.5 1450; pod "$B2" "${PREFIX}ob2" fob1 10.242.2.5 1450
vtep "$A1" 10.80.0.1 02:fb:00:00:00:01 10.247.1.0 flannel.1 2 8472; vtep "$A2" 10.80.0.2 02:fb:00:00:00:02 10.247.2.0 flannel.1 2 8472
bridge_pod "$A1" "${PREFIX}oc1" cni1 10.247.1.1/24 10.247.1.5 1450
bridge_pod "$A2" "${PREFIX}oc2" cni1 10.247.2.1/24 10.247.2.5 1450
peer "$A1" 10.247.2.0/24 10.247.2.0 02:fb:00:00:00:02 10.80.0.2 flannel.1; peer "$A2" 10.247.1.0/24 10.247.1.0 02:fb:00:00:00:01 10.80.0.1 flannel.1

# pair B's programs
build hg1 10.243.1.0/24; build hg2 10.243.2.0/24; build ov1 10.242.1.0/24; build ov2 10.242.2.0/24
attach "$B1" eth0 tc/to_pod hg1; attach "$B2" eth0 tc/to_pod hg2
attach "$B1" fathom.1 tc/to_pod ov1; attach "$B2" fathom.1 tc/to_pod ov2
attach "$B1" fhb0 tc/from_pod hg1; attach "$B2" fhb1 tc/from_pod hg2
attach "$B1" fob0 tc/from_pod ov1; attach "$B2" fob1 tc/from_pod ov2

# pair C (10.80.0.5/.6): overlay with the VXLAN encapsulation done by the programs themselves, as
# Fathom's overlay (bpf) does it: pods in 10.241, VTEP MACs that carry the node's address
# (0e:fa:a.b.c.d), from_pod on the pods' veths, from_vxlan on eth0's ingress; pair B's overlay keeps
# the kernel's VXLAN device (its VTEP MACs are of another scheme).
C1=${PREFIX}c1 C2=${PREFIX}c2
node "$C1" 10.80.0.5 nc1; node "$C2" 10.80.0.6 nc2
vtep "$C1" 10.80.0.5 0e:fa:0a:50:00:05 10.241.1.0; vtep "$C2" 10.80.0.6 0e:fa:0a:50:00:06 10.241.2.0
peer "$C1" 10.241.2.0/24 10.241.2.0 0e:fa:0a:50:00:06 10.80.0.6; peer "$C2" 10.241.1.0/24 10.241.1.0 0e:fa:0a:50:00:05 10.80.0.5
pod "$C1" "${PREFIX}oe1" foe0 10.241.1.5 1450; pod "$C2" "${PREFIX}oe2" foe1 10.241.2.5 1450
vxlan_build() { # NAME NODE LOCAL_PREFIX NODE_IP
  local local_net local_mask cluster_net cluster_mask vtep_index node_ip
  read -r local_net local_mask <<<"$(be32 "$3")"
  read -r cluster_net cluster_mask <<<"$(be32 10.241.0.0/16)"
  vtep_index=$(ip -n "$2" -j link show fathom.1 | jq '.[0].ifindex')
  node_ip=$(python3 -c 'import ipaddress,sys; print(hex(int.from_bytes(ipaddress.ip_address(sys.argv[1]).packed,"little")))' "$4")
  # port 4789 and VNI 1 as the packet holds them, read as little-endian: 0x12b5 -> 0xb512; 00 00 01 00 -> 0x00010000
  clang -O2 -g -mcpu=v3 -target bpf -I/usr/include/x86_64-linux-gnu -DCO_RE -DLOCAL_NET="$local_net" -DLOCAL_MASK="$local_mask" \
    -DCLUSTER_NET="$cluster_net" -DCLUSTER_MASK="$cluster_mask" -DVTEP_IFINDEX="$vtep_index" -DNODE_IP="$node_ip" \
    -DVXLAN_PORT=0xb512 -DVNI_WORD=0x00010000 -c "$HERE/bpf/redirect.c" -o "$WORK/$1.o"
}
vxlan_build ve1 "$C1" 10.241.1.0/24 10.80.0.5; vxlan_build ve2 "$C2" 10.241.2.0/24 10.80.0.6
attach "$C1" eth0 tc/from_vxlan ve1; attach "$C2" eth0 tc/from_vxlan ve2
attach "$C1" foe0 tc/from_pod ve1; attach "$C2" foe1 tc/from_pod ve2

# The overlay pods' MTU alone, on pair B: host-gw (bpf) pods at 1450 (10.243.N.6), and pair A's
# node↔node again over a second NIC per node at 1450 (10.81.0.0/24) — what 1450 costs without any encapsulation.
pod "$B1" "${PREFIX}hm1" fhm0 10.243.1.6 1450; pod "$B2" "${PREFIX}hm2" fhm1 10.243.2.6 1450
attach "$B1" fhm0 tc/from_pod hg1; attach "$B2" fhm1 tc/from_pod hg2
for i in 1 2; do
  ns=${PREFIX}a$i
  ip -n "$FABRIC" link add "nm$i" mtu 1450 type veth peer name eth3 mtu 1450 netns "$ns"
  ip -n "$FABRIC" link set "nm$i" master br0 up
  ip -n "$ns" addr add "10.81.0.$i/24" dev eth3
  ip -n "$ns" link set eth3 up
done

# name client server serverIP
WIRINGS=(
  "node↔node|$A1|$A2|10.80.0.2"
  "node↔node (B: to_pod on eth0)|$B1|$B2|10.80.0.4"
  "host-gw (kernel)|${PREFIX}hk1|${PREFIX}hk2|10.244.2.5"
  "host-gw (bpf)|${PREFIX}hb1|${PREFIX}hb2|10.243.2.5"
  "host-gw (bridge)|${PREFIX}hc1|${PREFIX}hc2|10.245.2.5"
  "overlay (kernel)|${PREFIX}ok1|${PREFIX}ok2|10.246.2.5"
  "overlay (bpf)|${PREFIX}ob1|${PREFIX}ob2|10.242.2.5"
  "overlay (bridge)|${PREFIX}oc1|${PREFIX}oc2|10.247.2.5"
  "overlay (bpf vxlan)|${PREFIX}oe1|${PREFIX}oe2|10.241.2.5"
  "host-gw (bpf), MTU 1450|${PREFIX}hm1|${PREFIX}hm2|10.243.2.6"
  "node↔node, MTU 1450|$A1|$A2|10.81.0.2"
)

for w in "${WIRINGS[@]}"; do
  IFS='|' read -r name client server ip <<<"$w"
  nsx "$server" iperf3 -s -D -B "$ip" --pidfile "$WORK/$server-$ip.pid"
  for _ in 1 2 3 4 5 6 7 8 9 10; do [[ -s $WORK/$server-$ip.pid ]] && break; sleep 0.1; done
  PIDS+=("$(tr -d '\0' <"$WORK/$server-$ip.pid")")
  nsx "$client" ping -c 1 -W 2 "$ip" >/dev/null || { echo "$0: $name: $client cannot reach $ip" >&2; exit 1; }
done

echo "one TCP stream, ${SECONDS_PER_RUN}s per run, $ROUNDS rounds, GRO $GRO on the pods' veths, cubic; load: $(cut -d' ' -f1-3 /proc/loadavg)"
for ((r = 1; r <= ROUNDS; r++)); do
  order=("${WIRINGS[@]}")
  # Every other round runs the wirings in reverse, so no wiring always follows the same one.
  if ((r % 2 == 0)); then for ((i = ${#WIRINGS[@]} - 1, j = 0; i >= 0; i--, j++)); do order[j]=${WIRINGS[i]}; done; fi
  for w in "${order[@]}"; do
    IFS='|' read -r name client server ip <<<"$w"
    # The receiver's rate, and both iperf3 processes' CPU (which counts the softirq work done in
    # their context: most of a veth path's) — the steadier figure on a loaded machine.
    nsx "$client" iperf3 -c "$ip" -t "$SECONDS_PER_RUN" -C cubic -J |
      jq -r --arg r "$r" --arg n "$name" '"\($r)|\($n)|\(.end.sum_received.bits_per_second)|\(.end.cpu_utilization_percent.host_total + .end.cpu_utilization_percent.remote_total)"' >>"$WORK/samples"
  done
done

python3 - "$WORK/samples" <<'EOF'
import sys, statistics
rows = [l.rstrip("\n").split("|") for l in open(sys.argv[1])]
rows = [(r, n, float(b) / 1e9, float(c) / 100 / (float(b) / 1e9)) for r, n, b, c in rows]
base = {r: (g, c) for r, n, g, c in rows if n == "node↔node"}
names = list(dict.fromkeys(n for _, n, _, _ in rows))
print(f"{'wiring':32} {'Gbit/s':>7} {'/node↔node':>10} {'CPU s/Gbit':>10} {'/node↔node':>10}   throughput ratio per round")
for name in names:
    mine = [(r, g, c) for r, n, g, c in rows if n == name]
    ratios = [g / base[r][0] for r, g, c in mine]
    cpu = [c / base[r][1] for r, g, c in mine]
    print(f"{name:32} {statistics.median(g for _, g, _ in mine):7.2f} {statistics.median(ratios):10.2f} "
          f"{statistics.median(c for _, _, c in mine):10.4f} {statistics.median(cpu):10.2f}   " + " ".join(f"{x:.2f}" for x in ratios))
EOF
