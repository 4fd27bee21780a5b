using System.Text.Json;

namespace Fathom.Agent.Protocol;

/// <summary>
/// Reads the replies the plugin gets on every ADD, DEL and CHECK (<c>allocated</c>, <c>done</c>)
/// with <see cref="Utf8JsonReader"/> by hand, so the plugin never builds the serializer's metadata
/// (see <see cref="AgentRequestWriter"/> for what that costs). It reads only what it can read
/// exactly as <see cref="AgentJsonContext"/> does — members in any order, unknown members skipped,
/// case-sensitive names — and gives up (null) on anything else: another reply (error, status), a
/// required member missing, a null or a token of another type, a member twice, a <c>$</c> name, JSON
/// that is not well-formed. The caller then hands the payload to the serializer, which reads it or
/// refuses it with its own message, so what is accepted and what is refused stays the contract's.
/// </summary>
internal static class AgentReplyReader
{
    /// <summary>The reply, or null when the serializer must decide (see the class remarks).</summary>
    public static AgentReply? TryRead(ReadOnlySpan<byte> json)
    {
        try
        {
            var reader = new Utf8JsonReader(json, new JsonReaderOptions { MaxDepth = 64 });
            var reply = reader.Read() ? TryReadReply(ref reader) : null;
            // Anything after the one object is the serializer's to refuse (the reader throws on it).
            return reply is not null && !reader.Read() ? reply : null;
        }
        catch (JsonException)
        {
            return null;
        }
        catch (InvalidOperationException)
        {
            return null; // a string that is not valid UTF-8, or a value read as the wrong type
        }
    }

    private static AgentReply? TryReadReply(ref Utf8JsonReader reader)
    {
        if (reader.TokenType != JsonTokenType.StartObject)
            return null;
        string? kind = null;
        int? version = null;
        Allocation? allocation = null;
        List<AttachmentRef>? released = null;
        var seen = new Members();
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var member = reader.ValueTextEquals("reply"u8) ? 1
                : reader.ValueTextEquals("version"u8) ? 2
                : reader.ValueTextEquals("allocation"u8) ? 3
                : reader.ValueTextEquals("released"u8) ? 4
                : 0;
            if (member == 0 ? !Skip(ref reader) : !seen.First(member) || !reader.Read())
                return null;
            switch (member)
            {
                case 1 when reader.TokenType == JsonTokenType.String:
                    kind = reader.GetString();
                    break;
                case 2 when reader.TokenType == JsonTokenType.Number && reader.TryGetInt32(out var v):
                    version = v;
                    break;
                case 3:
                    if ((allocation = TryReadAllocation(ref reader)) is null) return null;
                    break;
                case 4:
                    if ((released = TryReadAttachments(ref reader)) is null) return null;
                    break;
                case 0:
                    break;
                default:
                    return null;
            }
        }
        if (reader.TokenType != JsonTokenType.EndObject || version is not { } ver)
            return null;
        return kind switch
        {
            "allocated" when allocation is not null => new AllocatedReply { Allocation = allocation, Version = ver },
            "done" => released is null ? new DoneReply { Version = ver } : new DoneReply { Released = released, Version = ver },
            _ => null,
        };
    }

    // Names the allocation kinds share and their own, in one table: the index is the member's bit.
    private static readonly byte[][] AllocationMembers =
    [
        "mode"u8.ToArray(), "eniId"u8.ToArray(), "gateway"u8.ToArray(), "address"u8.ToArray(),
        "routeTable"u8.ToArray(), "hostVeth"u8.ToArray(), "mac"u8.ToArray(), "hostDevice"u8.ToArray(),
        "mtu"u8.ToArray(), "nodeRoutes"u8.ToArray(), "subnet"u8.ToArray(),
    ];

    private const int Mode = 0, EniId = 1, Gateway = 2, Address = 3, RouteTable = 4, HostVeth = 5, Mac = 6,
        HostDevice = 7, Mtu = 8, NodeRoutes = 9, Subnet = 10;

    private static Allocation? TryReadAllocation(ref Utf8JsonReader reader)
    {
        if (reader.TokenType != JsonTokenType.StartObject)
            return null;
        var strings = new string?[AllocationMembers.Length];
        int? routeTable = null, mtu = null;
        List<string>? nodeRoutes = null;
        var nodeRoutesNull = false;
        var seen = new Members();
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var member = Find(ref reader);
            if (member < 0)
            {
                if (!Skip(ref reader)) return null;
                continue;
            }
            if (!seen.First(member + 1) || !reader.Read())
                return null;
            switch (member)
            {
                case RouteTable or Mtu:
                    if (reader.TokenType != JsonTokenType.Number || !reader.TryGetInt32(out var n)) return null;
                    if (member == Mtu) mtu = n; else routeTable = n;
                    break;
                case NodeRoutes when reader.TokenType == JsonTokenType.Null:
                    nodeRoutesNull = true;
                    break;
                case NodeRoutes:
                    if ((nodeRoutes = TryReadStrings(ref reader)) is null) return null;
                    break;
                default:
                    if (reader.TokenType != JsonTokenType.String) return null;
                    strings[member] = reader.GetString();
                    break;
            }
        }
        if (reader.TokenType != JsonTokenType.EndObject
            || strings[EniId] is not { } eniId || strings[Gateway] is not { } gateway || strings[Address] is not { } address)
            return null;
        return strings[Mode] switch
        {
            "shared" when routeTable is { } table && strings[HostVeth] is { } veth => new SharedAllocation
            {
                EniId = eniId, Gateway = gateway, Address = address, RouteTable = table, HostVeth = veth,
            },
            "underlay" when strings[Mac] is { } mac && strings[HostDevice] is { } device && mtu is { } m => new UnderlayAllocation
            {
                EniId = eniId, Gateway = gateway, Address = address, Mac = mac, HostDevice = device, Mtu = m,
                NodeRoutes = nodeRoutesNull ? null : nodeRoutes,
            },
            "host-gw" when strings[Subnet] is { } subnet && strings[HostVeth] is { } veth && mtu is { } m => new HostGwAllocation
            {
                EniId = eniId, Gateway = gateway, Address = address, Subnet = subnet, HostVeth = veth, Mtu = m,
            },
            "overlay" when strings[Subnet] is { } subnet && strings[HostVeth] is { } veth && mtu is { } m => new OverlayAllocation
            {
                EniId = eniId, Gateway = gateway, Address = address, Subnet = subnet, HostVeth = veth, Mtu = m,
            },
            _ => null,
        };
    }

    private static List<AttachmentRef>? TryReadAttachments(ref Utf8JsonReader reader)
    {
        if (reader.TokenType != JsonTokenType.StartArray)
            return null;
        var list = new List<AttachmentRef>();
        while (reader.Read() && reader.TokenType == JsonTokenType.StartObject)
        {
            string? containerId = null, ifName = null;
            var seen = new Members();
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var member = reader.ValueTextEquals("containerId"u8) ? 1 : reader.ValueTextEquals("ifName"u8) ? 2 : 0;
                if (member == 0)
                {
                    if (!Skip(ref reader)) return null;
                    continue;
                }
                if (!seen.First(member) || !reader.Read() || reader.TokenType != JsonTokenType.String)
                    return null;
                if (member == 1) containerId = reader.GetString(); else ifName = reader.GetString();
            }
            if (containerId is null || ifName is null)
                return null;
            list.Add(new AttachmentRef { ContainerId = containerId, IfName = ifName });
        }
        return reader.TokenType == JsonTokenType.EndArray ? list : null;
    }

    private static List<string>? TryReadStrings(ref Utf8JsonReader reader)
    {
        if (reader.TokenType != JsonTokenType.StartArray)
            return null;
        var list = new List<string>();
        while (reader.Read() && reader.TokenType == JsonTokenType.String)
            list.Add(reader.GetString()!);
        return reader.TokenType == JsonTokenType.EndArray ? list : null;
    }

    private static int Find(ref Utf8JsonReader reader)
    {
        for (var i = 0; i < AllocationMembers.Length; i++)
            if (reader.ValueTextEquals(AllocationMembers[i]))
                return i;
        return -1;
    }

    // An unknown member's value is skipped, as the serializer skips it; a "$" name is its metadata
    // (references, type discriminators), which it reads its own way.
    private static bool Skip(ref Utf8JsonReader reader)
    {
        if (reader.ValueSpan is [(byte)'$', ..] || reader.ValueIsEscaped)
            return false;
        reader.Skip();
        return true;
    }

    /// <summary>Which members of one object were read: a second one of a name is the serializer's to judge.</summary>
    private struct Members
    {
        private int _bits;

        public bool First(int member)
        {
            var bit = 1 << member;
            if ((_bits & bit) != 0) return false;
            _bits |= bit;
            return true;
        }
    }
}
