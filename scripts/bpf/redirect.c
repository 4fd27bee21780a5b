// SPDX-License-Identifier: GPL-2.0
//
// tc (clsact) programs that move a pod's IPv4 packets past the node's IP stack, as Cilium's
// bpf_lxc/bpf_host do: the node's own routing table (bpf_fib_lookup) still decides where each
// packet goes, the programs only skip the forwarding path that would carry it there.
//
//   to_pod   — on the node's uplink ingress (eth0 for host-gw, the VXLAN device for overlay):
//              a packet whose route is a pod's host-side veth goes straight into the pod's
//              namespace with bpf_redirect_peer (it enters as the pod's eth0 receive, no second
//              pass through the node's stack, no backlog queue: net/core/filter.c skb_do_redirect).
//   from_pod — on each pod's host-side veth ingress: a packet whose route leaves by another
//              device is sent out of it with bpf_redirect (bpf_redirect_neigh while the next
//              hop's neighbour is not resolved yet).
//
// Each program handles only its own prefix (below): anything else, and anything the route lookup
// does not hand to a device (the node's own addresses, no route, a fragment-needed MTU, non-IPv4),
// takes the kernel's normal path, so kubelet probes, ARP, kube-proxy's Services and the node's
// own traffic work unchanged and pay no route lookup.
//
// The prefixes are constants the loader writes into the instructions (Fathom's PodRedirect finds
// each marker immediate exactly once and replaces it, as Cilium's templating does), so one object
// serves every node and no map is needed. Both are in network byte order as the packet holds them.
//   to_pod   handles destinations in LOCAL_NET/LOCAL_MASK: the node's own pod subnet.
//   from_pod handles destinations in CLUSTER_NET/CLUSTER_MASK: the cluster's pod CIDR; a Service
//            address or the internet goes through the node's stack (kube-proxy's DNAT, masquerade).
//
// Build: clang -O2 -mcpu=v3 -target bpf -I/usr/include/x86_64-linux-gnu -c redirect.c -o redirect.o
// (scripts/bpf-generate.sh turns it into src/Datapath/PodRedirectProgram.g.cs)
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <linux/if_ether.h>
#include <linux/ip.h>

#define SEC(name) __attribute__((section(name), used))
#define INLINE static inline __attribute__((always_inline))

static long (*bpf_fib_lookup)(void *ctx, struct bpf_fib_lookup *params, int plen, __u32 flags) = (void *)BPF_FUNC_fib_lookup;
static long (*bpf_redirect)(__u32 ifindex, __u64 flags) = (void *)BPF_FUNC_redirect;
static long (*bpf_redirect_peer)(__u32 ifindex, __u64 flags) = (void *)BPF_FUNC_redirect_peer;
static long (*bpf_redirect_neigh)(__u32 ifindex, struct bpf_redir_neigh *params, int plen, __u64 flags) = (void *)BPF_FUNC_redirect_neigh;

#define ETH_P_IP_BE __builtin_bswap16(ETH_P_IP)

// Markers the loader replaces (src/Datapath/PodRedirect.cs); each must appear once as an immediate.
// scripts/bpf-dataplane.sh, which loads the object with tc, defines the real values instead (-D).
// Each marker network lies inside its marker mask, or clang proves the test always false and drops
// the program's body (scripts/bpf-generate.sh checks that every marker survives, once).
#ifndef LOCAL_NET
#define LOCAL_NET 0x0badc0de
#define LOCAL_MASK 0x7fedfefe
#endif
#ifndef CLUSTER_NET
#define CLUSTER_NET 0x0badf00d
#define CLUSTER_MASK 0x7feff00f
#endif

// Look up the route of an IPv4 packet; *iph points at its header on success. tot_len stays 0 so the
// kernel checks the MTU with is_skb_forwardable, which lets GSO packets through (filter.c, bpf_skb_fib_lookup).
INLINE long route(struct __sk_buff *skb, struct bpf_fib_lookup *fib, struct iphdr **iph, __u32 net, __u32 mask)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = data + sizeof(*eth);

	if ((void *)(ip + 1) > data_end || eth->h_proto != ETH_P_IP_BE || ip->ttl <= 1 || (ip->daddr & mask) != net)
		return -1;
	__builtin_memset(fib, 0, sizeof(*fib));
	fib->family = 2; // AF_INET
	fib->tos = ip->tos;
	fib->l4_protocol = ip->protocol;
	fib->ipv4_src = ip->saddr;
	fib->ipv4_dst = ip->daddr;
	fib->ifindex = skb->ingress_ifindex;
	*iph = ip;
	return bpf_fib_lookup(skb, fib, sizeof(*fib), 0);
}

// What ip_forward does to the header: one hop less, the checksum updated (RFC 1624).
INLINE void forward(struct __sk_buff *skb, struct iphdr *ip, struct bpf_fib_lookup *fib)
{
	__u32 check = ip->check;
	check += __builtin_bswap16(0x0100);
	ip->check = (__u16)(check + (check >= 0xFFFF));
	ip->ttl--;
	struct ethhdr *eth = (void *)(long)skb->data;
	if ((void *)(eth + 1) > (void *)(long)skb->data_end)
		return;
	__builtin_memcpy(eth->h_dest, fib->dmac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, fib->smac, ETH_ALEN);
}

SEC("tc/to_pod")
int to_pod(struct __sk_buff *skb)
{
	struct bpf_fib_lookup fib;
	struct iphdr *ip;

	// Not a local pod's: TC_ACT_UNSPEC lets a later filter on this device see the packet.
	if (route(skb, &fib, &ip, LOCAL_NET, LOCAL_MASK) != BPF_FIB_LKUP_RET_SUCCESS || fib.ifindex == skb->ingress_ifindex)
		return TC_ACT_UNSPEC;
	forward(skb, ip, &fib);
	return bpf_redirect_peer(fib.ifindex, 0);
}

SEC("tc/from_pod")
int from_pod(struct __sk_buff *skb)
{
	struct bpf_fib_lookup fib;
	struct iphdr *ip;
	long rc = route(skb, &fib, &ip, CLUSTER_NET, CLUSTER_MASK);

	if (rc == BPF_FIB_LKUP_RET_SUCCESS) {
		forward(skb, ip, &fib);
		return bpf_redirect(fib.ifindex, 0);
	}
	if (rc == BPF_FIB_LKUP_RET_NO_NEIGH) {
		struct bpf_redir_neigh nh = { .nh_family = 2, .ipv4_nh = fib.ipv4_dst };
		__u32 check = ip->check;
		check += __builtin_bswap16(0x0100);
		ip->check = (__u16)(check + (check >= 0xFFFF));
		ip->ttl--;
		return bpf_redirect_neigh(fib.ifindex, &nh, sizeof(nh), 0);
	}
	return TC_ACT_UNSPEC;
}

char _license[] SEC("license") = "GPL";
