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
//              hop's neighbour is not resolved yet); one whose route leads into the node's VXLAN
//              device is wrapped in VXLAN here and sent out of the fabric device (overlay, below).
//   from_vxlan — on the fabric device's ingress (overlay): a VXLAN packet for one of the node's pods
//              is unwrapped and handed to the pod as to_pod does.
//
// Each program handles only its own prefix (below): anything else, and anything the route lookup
// does not hand to a device (the node's own addresses, no route, a fragment-needed MTU, non-IPv4),
// takes the kernel's normal path, so kubelet probes, ARP, kube-proxy's Services and the node's
// own traffic work unchanged and pay no route lookup.
//
// A redirected packet skips the node's netfilter, so before redirecting a TCP or UDP packet both
// programs look its flow up in the node's conntrack (the kfunc bpf_skb_ct_lookup,
// net/netfilter/nf_conntrack_bpf.c): a flow the kernel NATs — the reply of a client pod's connection
// to a Service that kube-proxy DNATed, which conntrack must un-DNAT — takes the kernel's path, as
// does every packet whose lookup fails for any reason other than "no such flow" (the safe side).
// Other packets whose NAT the kernel may have to undo take the kernel's path without a lookup:
// fragments (no ports past the first; conntrack defragments), IPv4 options (rare), ICMP errors (the
// kernel rewrites the header they quote) and every protocol but TCP, UDP and ICMP echo (kube-proxy
// also NATs SCTP; echo is never NATed by kube-proxy, and ping between pods stays redirected).
//
// The prefixes are constants the loader writes into the instructions (Fathom's PodRedirect finds
// each marker immediate exactly once and replaces it, as Cilium's templating does), so one object
// serves every node and no map is needed. Both are in network byte order as the packet holds them.
//   to_pod   handles destinations in LOCAL_NET/LOCAL_MASK: the node's own pod subnet.
//   from_pod handles destinations in CLUSTER_NET/CLUSTER_MASK: the cluster's pod CIDR; a Service
//            address or the internet goes through the node's stack (kube-proxy's DNAT, masquerade).
//
// The kfuncs are called by BTF id: the object's calls to them carry relocations against the
// .ksyms externs, which scripts/bpf-generate.sh records (the instruction and the kfunc's name) and
// Fathom's loader resolves from /sys/kernel/btf/vmlinux (src/Netlink/Bpf/Btf.cs), as libbpf does.
// The offset of nf_conn's status field is read from the same BTF and written over a marker offset.
//
// Build: clang -O2 -mcpu=v3 -target bpf -I/usr/include/x86_64-linux-gnu -c redirect.c -o redirect.o
// (scripts/bpf-generate.sh turns it into src/Datapath/PodRedirectProgram.g.cs)
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>

#define SEC(name) __attribute__((section(name), used))
#define INLINE static inline __attribute__((always_inline))

static long (*bpf_fib_lookup)(void *ctx, struct bpf_fib_lookup *params, int plen, __u32 flags) = (void *)BPF_FUNC_fib_lookup;
static long (*bpf_redirect)(__u32 ifindex, __u64 flags) = (void *)BPF_FUNC_redirect;
static long (*bpf_redirect_peer)(__u32 ifindex, __u64 flags) = (void *)BPF_FUNC_redirect_peer;
static long (*bpf_redirect_neigh)(__u32 ifindex, struct bpf_redir_neigh *params, int plen, __u64 flags) = (void *)BPF_FUNC_redirect_neigh;

#define ETH_P_IP_BE __builtin_bswap16(ETH_P_IP)

// The marker the loader replaces with offsetof(struct nf_conn, status) from the kernel's BTF (the
// LDX instruction's offset; scripts/bpf-generate.sh checks it occurs once). scripts/bpf-dataplane.sh,
// which loads the object with tc (libbpf), builds it with -g -DCO_RE instead: libbpf then relocates
// the field's offset itself (CO-RE) and resolves the kfuncs' .ksyms externs from the object's BTF.
#ifdef CO_RE
struct nf_conn {
	unsigned long status;
} __attribute__((preserve_access_index));
#else
#define CT_STATUS_OFF 0x7ba8
struct nf_conn {
	char before_status[CT_STATUS_OFF];
	unsigned long status;
};
#endif

// struct bpf_ct_opts as net/netfilter/nf_conntrack_bpf.c has it since 6.2 (NF_BPF_CT_OPTS_SZ 16).
struct ct_opts {
	__s32 netns_id;
	__s32 error;
	__u8 l4proto;
	__u8 dir;
	__u16 ct_zone_id;
	__u8 ct_zone_dir;
	__u8 reserved[3];
};
#define BPF_F_CURRENT_NETNS (-1)
#define ENOENT 2
#define IPS_NAT_MASK 0x30 // IPS_SRC_NAT | IPS_DST_NAT (include/uapi/linux/netfilter/nf_conntrack_common.h)
#define KSYM __attribute__((section(".ksyms")))
extern struct nf_conn *bpf_skb_ct_lookup(struct __sk_buff *skb, struct bpf_sock_tuple *tuple, __u32 tuple__sz, struct ct_opts *opts, __u32 opts__sz) KSYM;
extern void bpf_ct_release(struct nf_conn *ct) KSYM;

// Whether the kernel's path must carry this packet because its flow may be NATed (the header above).
INLINE int kernel_must_see(struct __sk_buff *skb, struct iphdr *ip, void *data_end)
{
	struct bpf_sock_tuple tuple = {};
	struct ct_opts opts = { .netns_id = BPF_F_CURRENT_NETNS };
	__u8 *l4 = (void *)(ip + 1);

	if (ip->ihl != 5 || (ip->frag_off & __builtin_bswap16(0x3fff)) || l4 + 4 > (__u8 *)data_end)
		return 1; // options, a fragment, or a truncated header
	if (ip->protocol == IPPROTO_ICMP)
		return l4[0] != 0 && l4[0] != 8; // echo reply, echo request: no ports, never NATed by kube-proxy
	if (ip->protocol != IPPROTO_TCP && ip->protocol != IPPROTO_UDP)
		return 1;
	tuple.ipv4.saddr = ip->saddr;
	tuple.ipv4.daddr = ip->daddr;
	tuple.ipv4.sport = *(__u16 *)l4;
	tuple.ipv4.dport = *(__u16 *)(l4 + 2);
	opts.l4proto = ip->protocol;
	struct nf_conn *ct = bpf_skb_ct_lookup(skb, &tuple, sizeof(tuple.ipv4), &opts, sizeof(opts));
	if (!ct)
		return opts.error != -ENOENT; // no flow: ours to redirect; any other failure: the kernel's
	unsigned long status = ct->status;
	bpf_ct_release(ct);
	return (status & IPS_NAT_MASK) != 0;
}

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

// The route lookup's input for an IPv4 header, as if the packet had come in on ifindex.
INLINE void fib_for(struct bpf_fib_lookup *fib, struct iphdr *ip, __u32 ifindex)
{
	__builtin_memset(fib, 0, sizeof(*fib));
	fib->family = 2; // AF_INET
	fib->tos = ip->tos;
	fib->l4_protocol = ip->protocol;
	fib->ipv4_src = ip->saddr;
	fib->ipv4_dst = ip->daddr;
	fib->ifindex = ifindex;
}

// The IPv4 header at offset in the packet as it is now, or NULL when the packet is shorter: a helper
// or kfunc call may move the packet's data, after which the verifier forgets every pointer into it.
INLINE struct iphdr *ip_at(struct __sk_buff *skb, __u32 offset)
{
	struct iphdr *ip = (void *)(long)skb->data + offset;

	if ((void *)(ip + 1) > (void *)(long)skb->data_end)
		return 0;
	return ip;
}

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
	if (kernel_must_see(skb, ip, data_end))
		return -1;
	// The kfunc call may have moved the packet's data (the verifier assumes so): find the header again.
	ip = ip_at(skb, sizeof(*eth));
	if (!ip)
		return -1;
	fib_for(fib, ip, skb->ingress_ifindex);
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

// ---- overlay: the VXLAN encapsulation done here, not by the kernel's VXLAN device ----
// As Calico's eBPF dataplane does it: from_pod wraps a packet whose route leads into the node's VXLAN
// device (VTEP_IFINDEX) for a peer VTEP whose MAC carries its node's address (0e:fa:a.b.c.d, Fathom's
// scheme: src/Datapath/PodRedirect.cs VtepMac) and sends it straight out of the fabric device, the
// packet kept whole (GSO: bpf_skb_adjust_room's UDP-tunnel flags mark it as the VXLAN device would);
// from_vxlan, on the fabric device's ingress, unwraps a packet of the node's VNI and port for one of
// its pods and hands it to the pod as to_pod does. The bytes on the wire are the VXLAN device's: a
// peer that does it with its kernel device talks to one that does it here. Anything the programs
// cannot do — a peer VTEP of another MAC scheme, a next hop not resolved yet, a packet for the node
// itself — takes the VXLAN device as before.
static long (*bpf_skb_adjust_room)(struct __sk_buff *skb, __s32 len_diff, __u32 mode, __u64 flags) = (void *)BPF_FUNC_skb_adjust_room;
static long (*bpf_skb_store_bytes)(struct __sk_buff *skb, __u32 offset, const void *from, __u32 len, __u64 flags) = (void *)BPF_FUNC_skb_store_bytes;
static long (*bpf_skb_pull_data)(struct __sk_buff *skb, __u32 len) = (void *)BPF_FUNC_skb_pull_data;
static __u32 (*bpf_get_hash_recalc)(struct __sk_buff *skb) = (void *)BPF_FUNC_get_hash_recalc;

// More markers (src/Datapath/PodRedirect.cs), each made opaque by the asm so that it stays one
// 32-bit immediate (a mov) the loader can find: VTEP_IFINDEX (the VXLAN device's index; 0 where the
// pod's mode is not overlay), NODE_IP (the outer source), VXLAN_PORT (as the packet holds it, read
// little-endian) and VNI_WORD (the VXLAN header's second word, likewise).
#ifndef VTEP_IFINDEX
#define VTEP_IFINDEX 0x0bad1f1f
#define NODE_IP 0x0bad0a0a
#define VXLAN_PORT 0x0badd0d0
#define VNI_WORD 0x0bad5eed
#endif
#define STR(x) #x
#define XSTR(x) STR(x)
#define MARKER(value) ({ __u32 __m; asm volatile("%0 = " XSTR(value) : "=w"(__m)); __m; })

#define VTEP_MAC0 0x0e
#define VTEP_MAC1 0xfa
#define ENCAP_LEN 50 // outer IPv4 20 + UDP 8 + VXLAN 8 + inner Ethernet 14
#define VXLAN_FLAGS_BE __builtin_bswap32(0x08000000) // I: the VNI is valid

struct vxlan_encap {
	struct ethhdr eth;
	struct iphdr ip;
	__u16 sport, dport, len, check;
	__u32 flags, vni;
	struct ethhdr inner;
} __attribute__((packed));

INLINE __u16 ip_checksum(void *header)
{
	__u16 *w = header;
	__u32 sum = 0;
#pragma unroll
	for (int i = 0; i < 10; i++)
		sum += w[i];
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

// Wraps the packet for the peer VTEP *inner names and sends it out of the fabric device; -1 when it
// cannot (nothing changed: the caller redirects into the VXLAN device instead).
INLINE long encap(struct __sk_buff *skb, struct bpf_fib_lookup *inner)
{
	struct bpf_fib_lookup outer;
	struct vxlan_encap h;
	struct iphdr *ip;
	__u32 remote;

	if (inner->dmac[0] != VTEP_MAC0 || inner->dmac[1] != VTEP_MAC1)
		return -1;
	__builtin_memcpy(&remote, &inner->dmac[2], 4);
	__builtin_memset(&outer, 0, sizeof(outer));
	outer.family = 2;
	outer.ipv4_dst = remote;
	outer.ifindex = skb->ingress_ifindex;
	if (bpf_fib_lookup(skb, &outer, sizeof(outer), 0) != BPF_FIB_LKUP_RET_SUCCESS)
		return -1;
	__u32 hash = bpf_get_hash_recalc(skb);
	__u32 len = skb->len;
	ip = ip_at(skb, sizeof(struct ethhdr));
	if (!ip)
		return -1;
	forward(skb, ip, inner);
	if (bpf_skb_adjust_room(skb, ENCAP_LEN, BPF_ADJ_ROOM_MAC,
			BPF_F_ADJ_ROOM_FIXED_GSO | BPF_F_ADJ_ROOM_ENCAP_L3_IPV4 | BPF_F_ADJ_ROOM_ENCAP_L4_UDP |
			BPF_F_ADJ_ROOM_ENCAP_L2_ETH | BPF_F_ADJ_ROOM_ENCAP_L2(14)))
		return TC_ACT_SHOT;
	__builtin_memcpy(h.eth.h_dest, outer.dmac, ETH_ALEN);
	__builtin_memcpy(h.eth.h_source, outer.smac, ETH_ALEN);
	h.eth.h_proto = ETH_P_IP_BE;
	h.ip.version = 4;
	h.ip.ihl = 5;
	h.ip.tos = 0;
	h.ip.tot_len = __builtin_bswap16((__u16)(len + ENCAP_LEN - 14));
	h.ip.id = 0;
	h.ip.frag_off = __builtin_bswap16(0x4000); // DF: the pods' MTU leaves room for the headers
	h.ip.ttl = 64;
	h.ip.protocol = IPPROTO_UDP;
	h.ip.check = 0;
	h.ip.saddr = MARKER(NODE_IP);
	h.ip.daddr = remote;
	h.ip.check = ip_checksum(&h.ip);
	// The source port spreads flows as the kernel's udp_flow_src_port does (32768–60999).
	h.sport = __builtin_bswap16((__u16)((((__u64)hash * (61000 - 32768)) >> 32) + 32768));
	h.dport = (__u16)MARKER(VXLAN_PORT);
	h.len = __builtin_bswap16((__u16)(len + ENCAP_LEN - 34));
	h.check = 0; // IPv4: no UDP checksum, as the VXLAN device sends by default
	h.flags = VXLAN_FLAGS_BE;
	h.vni = MARKER(VNI_WORD);
	__builtin_memcpy(h.inner.h_dest, inner->dmac, ETH_ALEN);
	__builtin_memcpy(h.inner.h_source, inner->smac, ETH_ALEN);
	h.inner.h_proto = ETH_P_IP_BE;
	if (bpf_skb_store_bytes(skb, 0, &h, sizeof(h), 0))
		return TC_ACT_SHOT;
	return bpf_redirect(outer.ifindex, 0);
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

	if (rc == BPF_FIB_LKUP_RET_SUCCESS && fib.ifindex == MARKER(VTEP_IFINDEX)) {
		long done = encap(skb, &fib);
		if (done >= 0)
			return done;
		// Not wrapped here: into the VXLAN device, as below (the header found again after the calls).
		ip = ip_at(skb, sizeof(struct ethhdr));
		if (!ip)
			return TC_ACT_UNSPEC;
	}
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

// On the fabric device's ingress: a VXLAN packet of the node's port and VNI for one of its pods is
// unwrapped here and handed to the pod as to_pod hands it; anything else (another host's packet, a
// fragment, a packet for the node itself, a flow conntrack NATs) goes on to the kernel unchanged.
SEC("tc/from_vxlan")
int from_vxlan(struct __sk_buff *skb)
{
	struct bpf_fib_lookup fib;
	const __u32 vtep = MARKER(VTEP_IFINDEX);
	const __u32 need = 14 + 20 + 8 + 8 + 14 + 20 + 4;

	if (skb->pkt_type != 0 /* PACKET_HOST */)
		return TC_ACT_UNSPEC;
	if ((__u32)(skb->data_end - skb->data) < need && bpf_skb_pull_data(skb, need))
		return TC_ACT_UNSPEC;
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct iphdr *outer = data + 14;
	__u8 *udp = data + 34;
	struct ethhdr *ieth = data + 50;
	struct iphdr *ip = data + 64;
	if (data + need > data_end || eth->h_proto != ETH_P_IP_BE || outer->ihl != 5 || outer->protocol != IPPROTO_UDP
	    || (outer->frag_off & __builtin_bswap16(0x3fff)) || *(__u16 *)(udp + 2) != (__u16)MARKER(VXLAN_PORT)
	    || *(__u32 *)(udp + 8) != VXLAN_FLAGS_BE || *(__u32 *)(udp + 12) != MARKER(VNI_WORD)
	    || ieth->h_proto != ETH_P_IP_BE || ip->ttl <= 1 || (ip->daddr & LOCAL_MASK) != LOCAL_NET)
		return TC_ACT_UNSPEC;
	if (kernel_must_see(skb, ip, data_end))
		return TC_ACT_UNSPEC;
	ip = ip_at(skb, 64);
	if (!ip)
		return TC_ACT_UNSPEC;
	fib_for(&fib, ip, vtep); // as if it had come through the VXLAN device
	// The packet is still wrapped: check the MTU with the inner length (a GSO packet: 0, the kernel lets it through).
	fib.tot_len = skb->gso_size ? 0 : __builtin_bswap16(ip->tot_len);
	if (bpf_fib_lookup(skb, &fib, sizeof(fib), 0) != BPF_FIB_LKUP_RET_SUCCESS || fib.ifindex == vtep)
		return TC_ACT_UNSPEC;
	if (bpf_skb_adjust_room(skb, -ENCAP_LEN, BPF_ADJ_ROOM_MAC, BPF_F_ADJ_ROOM_FIXED_GSO))
		return TC_ACT_UNSPEC;
	ip = ip_at(skb, sizeof(struct ethhdr));
	if (!ip)
		return TC_ACT_SHOT;
	forward(skb, ip, &fib);
	return bpf_redirect_peer(fib.ifindex, 0);
}

char _license[] SEC("license") = "GPL";
