using System.Buffers.Binary;
using Fathom.Netlink.Sockets;
using Fathom.Netlink.Wire;

namespace Fathom.Netlink;

/// <summary>
/// The generation of a network namespace's nftables ruleset (<c>NFT_MSG_GETGEN</c> over
/// NETLINK_NETFILTER, as <c>nft</c> reads it before every transaction): a number the kernel changes
/// with every committed change to any table of that namespace (net/netfilter/nf_tables_api.c,
/// <c>nft_net->base_seq</c>). The same number twice means no table, chain or rule changed in between,
/// so whoever checked a table of theirs at the first reading need not look again — one request on a
/// socket instead of an <c>nft list</c> process.
/// </summary>
public static class NftablesGeneration
{
    private const ushort SubsysNftables = 10; // NFNL_SUBSYS_NFTABLES
    private const ushort MsgNewGen = 15, MsgGetGen = 16; // NFT_MSG_NEWGEN, NFT_MSG_GETGEN
    private const ushort AttrGenId = 1; // NFTA_GEN_ID, big-endian u32
    private const int NfgenmsgLength = 4; // struct nfgenmsg: family, version, res_id (be16)

    /// <summary>Reads the calling thread's namespace's ruleset generation.</summary>
    /// <exception cref="NetlinkException">The socket could not be opened or the kernel refused the request (no nf_tables).</exception>
    public static uint Read()
    {
        using var socket = NetlinkSocket.Open(protocol: Interop.NETLINK_NETFILTER);
        var w = socket.BeginRequest();
        w.BeginMessage((ushort)(SubsysNftables << 8 | MsgGetGen), 0);
        w.Reserve(NfgenmsgLength); // AF_UNSPEC, NFNETLINK_V0, res_id 0
        w.EndMessage();
        return socket.Get(ref w, Parse, "read the nftables ruleset's generation").Id;
    }

    /// <summary>Reads <paramref name="netns"/>'s ruleset generation (the socket made inside it, <see cref="Netns.Run{T}(NetnsHandle, Func{T})"/>).</summary>
    /// <exception cref="NetlinkException">As for <see cref="Read()"/>.</exception>
    public static uint Read(NetnsHandle netns)
    {
        ArgumentNullException.ThrowIfNull(netns);
        return Netns.Run(netns, () => Read());
    }

    private sealed record Generation(uint Id);

    private static Generation? Parse(in NetlinkMessage message)
    {
        if (message.Type != (ushort)(SubsysNftables << 8 | MsgNewGen)) return null;
        var attributes = new AttributeReader(Malformed.Require(message.Payload, NfgenmsgLength, "nfgenmsg")[NfgenmsgLength..]);
        while (attributes.TryRead(out var type, out var value))
            if (type == AttrGenId)
                return new Generation(BinaryPrimitives.ReadUInt32BigEndian(Malformed.Require(value, 4, "NFTA_GEN_ID")));
        throw Malformed.Error("the generation message has no NFTA_GEN_ID");
    }
}
