using System.Globalization;
using System.Text;
using CsCheck;

namespace Fathom.Agent.Protocol.Tests.Fuzz;

/// <summary>Generators of hostile input: random bytes, random JSON in the protocol's vocabulary, mutated valid messages.</summary>
internal static class ProtocolGen
{
    private static readonly string[] Keys =
    [
        "version", "op", "reply", "mode", "network", "containerId", "ifName", "netnsPath", "requestedMode", "fallbackAllowed",
        "pod", "namespace", "name", "uid", "validAttachments", "allocation", "eniId", "gateway", "address", "mac", "hostDevice",
        "mtu", "routeTable", "hostVeth", "code", "message", "details", "released", "status", "agentVersion", "time", "pools",
        "enis", "allocations", "$type", "",
    ];

    private static readonly string[] Words =
    [
        "allocate", "release", "check", "gc", "status", "allocated", "done", "error", "underlay", "shared", "eni-1",
        "10.0.0.1", "10.0.0.5/32", "10.0.0.5/24", "0a:1b:2c:3d:4e:5f", "eth0", "2026-12-06T00:00:00Z", "", "\u0000", "\ud800",
    ];

    private static readonly Gen<string> Scalar = Gen.OneOf(
        Gen.OneOfConst("null", "true", "false", "1", "0", "-1", "2", "1e400", "1.5", "99999999999999999999"),
        Gen.Int.Select(i => i.ToString(CultureInfo.InvariantCulture)),
        Gen.OneOfConst(Words).Select(Quote),
        Gen.Char['\0', '\u00ff'].Array[0, 12].Select(c => Quote(new string(c))));

    private static string Quote(string s)
    {
        var text = new StringBuilder("\"");
        foreach (var c in s)
            text.Append(c is '"' or '\\' || char.IsControl(c) || char.IsSurrogate(c) ? $"\\u{(int)c:x4}" : c.ToString());
        return text.Append('"').ToString();
    }

    private static Gen<string> Value(int depth) => depth == 0
        ? Scalar
        : Gen.Frequency((4, Scalar), (2, Object(depth - 1)), (1, Array(depth - 1)));

    private static Gen<string> Object(int depth) =>
        Gen.Select(Gen.OneOfConst(Keys), Value(depth)).Array[0, 8]
            .Select(pairs => "{" + string.Join(",", pairs.Select(p => $"{Quote(p.Item1)}:{p.Item2}")) + "}");

    private static Gen<string> Array(int depth) =>
        Value(depth).Array[0, 4].Select(items => "[" + string.Join(",", items) + "]");

    /// <summary>Objects that mostly carry version 1, so parsing gets past the version check into the shapes.</summary>
    public static readonly Gen<byte[]> Json =
        Gen.Select(Gen.Frequency((6, Gen.Const("1")), (1, Scalar)), Object(3))
            .Select((version, body) => Encoding.UTF8.GetBytes(
                body == "{}" ? $"{{\"version\":{version}}}" : $"{{\"version\":{version}," + body[1..]));

    /// <summary>Well-formed messages of every kind.</summary>
    public static readonly byte[][] Valid =
    [
        AgentMessages.Serialize(new AllocateRequest
        {
            Network = "n", ContainerId = "c", IfName = "eth0", NetnsPath = "/p", RequestedMode = AllocationMode.Underlay,
            Pod = new PodIdentity { Namespace = "ns", Name = "p", Uid = "u" },
        }),
        AgentMessages.Serialize(new GcRequest { Network = "n", ValidAttachments = [new AttachmentRef { ContainerId = "c", IfName = "eth0" }] }),
        AgentMessages.Serialize(new ReleaseRequest { Network = "n", ContainerId = "c", IfName = "eth0" }),
        AgentMessages.Serialize(new AllocatedReply { Allocation = FakeAgentService.Underlay }),
        AgentMessages.Serialize(new AllocatedReply { Allocation = FakeAgentService.Shared }),
        AgentMessages.Serialize(new ErrorReply { Code = AgentErrorCode.TryAgainLater, Message = "m", Details = "d" }),
        AgentMessages.Serialize(new StatusReply
        {
            Status = new AgentStatus
            {
                AgentVersion = "v", Time = DateTimeOffset.UnixEpoch, Pools = [new PoolStatus { Mode = AllocationMode.Shared }],
                Enis = [new EniStatus { EniId = "eni-1", Mac = "0a:1b:2c:3d:4e:5f", Use = "warm" }],
                Allocations = [new AllocationStatus { Network = "n", ContainerId = "c", IfName = "eth0", Allocation = FakeAgentService.Shared, State = "committed", Since = DateTimeOffset.UnixEpoch }],
            },
        }),
    ];

    /// <summary>A valid message with a few bytes flipped, dropped, inserted, or the tail cut off.</summary>
    public static readonly Gen<byte[]> Mutated =
        Gen.Select(Gen.Int[0, Valid.Length - 1], Gen.Select(Gen.Int[0, 3], Gen.Int[0, 100_000], Gen.Byte).Array[1, 4])
            .Select((which, edits) =>
            {
                var bytes = new List<byte>(Valid[which]);
                foreach (var (kind, at, value) in edits)
                {
                    if (bytes.Count == 0)
                        break;
                    var i = at % bytes.Count;
                    switch (kind)
                    {
                        case 0: bytes[i] = value; break;
                        case 1: bytes.RemoveAt(i); break;
                        case 2: bytes.Insert(i, value); break;
                        default: bytes.RemoveRange(i, bytes.Count - i); break;
                    }
                }
                return bytes.ToArray();
            });

    /// <summary>Anything: bytes, JSON, mutations.</summary>
    public static readonly Gen<byte[]> Payload = Gen.OneOf(Gen.Byte.Array[0, 200], Json, Mutated);
}
