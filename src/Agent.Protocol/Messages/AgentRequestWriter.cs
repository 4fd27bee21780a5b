using System.Buffers;
using System.Text.Json;
using Fathom.Json;

namespace Fathom.Agent.Protocol;

/// <summary>
/// The requests the plugin sends, written with <see cref="Utf8JsonWriter"/> by hand: byte for byte
/// what <see cref="AgentJsonContext"/> writes (a test pins every request against it), without its
/// metadata. The serializer's first use in a process builds the metadata of every message type
/// (polymorphism read from attributes through reflection, converters, property caches): measured
/// with perf on a shared ADD, ≈ 30 % of the plugin process's CPU, more than everything else it does
/// after its start (docs/benchmarks.md, "Where the plugin's CPU went"). A short-lived plugin pays it on
/// every invocation; the agent, which lives for days, keeps the serializer.
/// </summary>
internal static class AgentRequestWriter
{
    /// <summary>
    /// The request's UTF-8 JSON, or null for one this writer does not know (a new request type, a
    /// mode without a wire name, a null where the contract has none): the caller falls back to the
    /// serializer, which writes it or refuses it as before.
    /// </summary>
    public static byte[]? TryWrite(AgentRequest request)
    {
        var buffer = new ArrayBufferWriter<byte>(384);
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = AsciiJsonEncoder.Strict }))
        {
            var written = request switch
            {
                AllocateRequest a => TryWriteAllocate(w, a),
                ReleaseRequest r => TryWriteAttachment(w, "release", r.Network, r.ContainerId, r.IfName),
                CheckRequest c => TryWriteAttachment(w, "check", c.Network, c.ContainerId, c.IfName),
                GcRequest g => TryWriteGc(w, g),
                StatusRequest => Op(w, "status"),
                _ => false,
            };
            if (!written)
                return null;
            // The base record's member comes after the derived one's, as the serializer orders them.
            w.WriteNumber("version", request.Version);
            w.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }

    private static bool Op(Utf8JsonWriter w, string op)
    {
        w.WriteStartObject();
        w.WriteString("op", op);
        return true;
    }

    private static bool TryWriteAttachment(Utf8JsonWriter w, string op, string? network, string? containerId, string? ifName)
    {
        if (network is null || containerId is null || ifName is null)
            return false;
        Op(w, op);
        w.WriteString("network", network);
        w.WriteString("containerId", containerId);
        w.WriteString("ifName", ifName);
        return true;
    }

    private static bool TryWriteAllocate(Utf8JsonWriter w, AllocateRequest a)
    {
        var mode = a.RequestedMode is { } m ? WireName(m) : null;
        if (a.RequestedMode is not null && mode is null)
            return false;
        if (a.Pod is { } p && (p.Namespace is null || p.Name is null))
            return false;
        if (!TryWriteAttachment(w, "allocate", a.Network, a.ContainerId, a.IfName))
            return false;
        if (a.NetnsPath is not null) w.WriteString("netnsPath", a.NetnsPath);
        if (mode is not null) w.WriteString("requestedMode", mode);
        w.WriteBoolean("fallbackAllowed", a.FallbackAllowed);
        if (a.Pod is { } pod)
        {
            w.WriteStartObject("pod");
            w.WriteString("namespace", pod.Namespace);
            w.WriteString("name", pod.Name);
            if (pod.Uid is not null) w.WriteString("uid", pod.Uid);
            w.WriteEndObject();
        }
        return true;
    }

    private static bool TryWriteGc(Utf8JsonWriter w, GcRequest g)
    {
        if (g.Network is null || g.ValidAttachments is null)
            return false;
        foreach (var a in g.ValidAttachments)
            if (a?.ContainerId is null || a.IfName is null)
                return false;
        Op(w, "gc");
        w.WriteString("network", g.Network);
        w.WriteStartArray("validAttachments");
        foreach (var a in g.ValidAttachments)
        {
            w.WriteStartObject();
            w.WriteString("containerId", a.ContainerId);
            w.WriteString("ifName", a.IfName);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        return true;
    }

    /// <summary>A mode's name on the wire (its <c>JsonStringEnumMemberName</c>), or null for a value the enum does not define.</summary>
    internal static string? WireName(AllocationMode mode) => mode switch
    {
        AllocationMode.Underlay => "underlay",
        AllocationMode.Shared => "shared",
        AllocationMode.HostGw => "host-gw",
        AllocationMode.Overlay => "overlay",
        _ => null,
    };
}
