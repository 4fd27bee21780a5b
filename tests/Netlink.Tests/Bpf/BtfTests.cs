using System.Buffers.Binary;
using System.Text;

namespace Fathom.Netlink.Tests.Bpf;

/// <summary>
/// <see cref="Btf"/> against the running kernel's /sys/kernel/btf/vmlinux (what the pod redirect
/// programs' kfunc calls and status load are patched from) and against small blobs built here, which
/// pin down the walk over each kind's trailing data and the bitfield encoding.
/// </summary>
public sealed class BtfTests
{
    [Fact]
    public void The_kernels_btf_has_the_conntrack_kfuncs_and_nf_conns_status()
    {
        var btf = Btf.LoadKernel();

        var lookup = btf.FindFunction("bpf_skb_ct_lookup");
        var release = btf.FindFunction("bpf_ct_release");
        Assert.True(lookup > 0, "bpf_skb_ct_lookup");
        Assert.True(release > 0, "bpf_ct_release");
        Assert.NotEqual(lookup, release);
        Assert.Null(btf.FindFunction("bpf_skb_ct_lookup_")); // whole names only
        Assert.Null(btf.FindFunction("nf_conn")); // a struct, not a function

        var status = btf.FindMemberOffset("nf_conn", "status");
        Assert.NotNull(status);
        Assert.Equal(0, status % 8); // an unsigned long
        Assert.True(status < btf.FindStructSize("nf_conn"));
        Assert.Equal(0, btf.FindMemberOffset("nf_conn", "ct_general")); // struct nf_conntrack, first (include/net/netfilter/nf_conntrack.h)
        Assert.Null(btf.FindMemberOffset("nf_conn", "no_such_member"));
        Assert.Equal(16, btf.FindStructSize("bpf_ct_opts")); // NF_BPF_CT_OPTS_SZ on this kernel
        Assert.Equal(4, btf.FindMemberOffset("bpf_ct_opts", "error"));
    }

    [Fact]
    public void Types_are_counted_past_every_kinds_trailing_data_and_bitfields_have_no_byte_offset()
    {
        var blob = new BtfBlob();
        var u32 = blob.Add("u32", kind: 1, vlen: 0, sizeOrType: 4, trailing: [0x20, 0, 0, 0]);                        // 1 INT
        blob.Add("e", kind: 6, vlen: 2, sizeOrType: 4, trailing: new byte[16]);                                        // 2 ENUM
        blob.Add("", kind: 13, vlen: 1, sizeOrType: u32, trailing: new byte[8]);                                       // 3 FUNC_PROTO
        blob.Add("f", kind: 12, vlen: 0, sizeOrType: 3, trailing: []);                                                 // 4 FUNC
        blob.AddStruct("s", size: 16, kindFlag: false, ("a", 0u), ("b", 64u));                                        // 5 STRUCT
        blob.AddStruct("bits", size: 8, kindFlag: true, ("x", 0u), ("y", (3u << 24) | 3), ("z", 32u));               // 6 STRUCT, bitfields
        blob.Add("g", kind: 12, vlen: 0, sizeOrType: 3, trailing: []);                                                 // 7 FUNC
        var btf = Btf.Parse(blob.ToArray(), "test");

        Assert.Equal(4, btf.FindFunction("f"));
        Assert.Equal(7, btf.FindFunction("g"));
        Assert.Null(btf.FindFunction("u32"));
        Assert.Equal(8, btf.FindMemberOffset("s", "b"));
        Assert.Equal(16, btf.FindStructSize("s"));
        Assert.Equal(0, btf.FindMemberOffset("bits", "x"));
        Assert.Null(btf.FindMemberOffset("bits", "y")); // a 3-bit field
        Assert.Equal(4, btf.FindMemberOffset("bits", "z"));
        Assert.Null(btf.FindStructSize("e"));
    }

    [Fact]
    public void A_blob_that_is_not_btf_is_refused()
    {
        var notBtf = Assert.Throws<NetlinkException>(() => Btf.Parse(new byte[32], "zeros"));
        Assert.Equal(Errno.EINVAL, notBtf.Error);
        Assert.Contains("zeros: not BTF", notBtf.Message, StringComparison.Ordinal);

        var blob = new BtfBlob().ToArray();
        BinaryPrimitives.WriteUInt32LittleEndian(blob.AsSpan(12), 1000); // type_len past the end
        Assert.Equal(Errno.EINVAL, Assert.Throws<NetlinkException>(() => Btf.Parse(blob, "short")).Error);
    }

    /// <summary>A BTF blob: header, types, strings (include/uapi/linux/btf.h).</summary>
    private sealed class BtfBlob
    {
        private readonly List<byte> _types = [];
        private readonly List<byte> _strings = [0];
        private int _count;

        public int Add(string name, int kind, int vlen, int sizeOrType, byte[] trailing, bool kindFlag = false)
        {
            Span<byte> type = stackalloc byte[12];
            BinaryPrimitives.WriteUInt32LittleEndian(type, String(name));
            BinaryPrimitives.WriteUInt32LittleEndian(type[4..], (kindFlag ? 0x8000_0000u : 0) | (uint)kind << 24 | (uint)vlen);
            BinaryPrimitives.WriteInt32LittleEndian(type[8..], sizeOrType);
            _types.AddRange(type.ToArray());
            _types.AddRange(trailing);
            return ++_count;
        }

        public int AddStruct(string name, int size, bool kindFlag, params (string Name, uint Offset)[] members)
        {
            var trailing = new byte[members.Length * 12];
            for (var i = 0; i < members.Length; i++)
            {
                BinaryPrimitives.WriteUInt32LittleEndian(trailing.AsSpan(i * 12), String(members[i].Name));
                BinaryPrimitives.WriteUInt32LittleEndian(trailing.AsSpan(i * 12 + 4), 1);
                BinaryPrimitives.WriteUInt32LittleEndian(trailing.AsSpan(i * 12 + 8), members[i].Offset);
            }
            return Add(name, kind: 4, members.Length, size, trailing, kindFlag);
        }

        private uint String(string s)
        {
            if (s.Length == 0) return 0;
            var at = (uint)_strings.Count;
            _strings.AddRange(Encoding.ASCII.GetBytes(s));
            _strings.Add(0);
            return at;
        }

        public byte[] ToArray()
        {
            var blob = new byte[24 + _types.Count + _strings.Count];
            BinaryPrimitives.WriteUInt16LittleEndian(blob, 0xeb9f);
            blob[2] = 1; // version
            BinaryPrimitives.WriteUInt32LittleEndian(blob.AsSpan(4), 24);
            BinaryPrimitives.WriteUInt32LittleEndian(blob.AsSpan(8), 0);
            BinaryPrimitives.WriteUInt32LittleEndian(blob.AsSpan(12), (uint)_types.Count);
            BinaryPrimitives.WriteUInt32LittleEndian(blob.AsSpan(16), (uint)_types.Count);
            BinaryPrimitives.WriteUInt32LittleEndian(blob.AsSpan(20), (uint)_strings.Count);
            _types.CopyTo(blob, 24);
            _strings.CopyTo(blob, 24 + _types.Count);
            return blob;
        }
    }
}
