using System.Buffers.Binary;
using System.Net;
using System.Text.Json;
using System.Text.Json.Serialization;
using Fathom.Agent.State;

namespace Fathom.Agent.Subnets;

/// <summary>One pod's address of the node's subnet, as <see cref="PodSubnetIpam"/> records it.</summary>
/// <param name="Network">The network config's name.</param>
/// <param name="ContainerId">CNI_CONTAINERID.</param>
/// <param name="IfName">CNI_IFNAME.</param>
/// <param name="Ip">The pod's address (a /32 behind its veth).</param>
/// <param name="HostVeth">The node end of the pod's veth.</param>
/// <param name="Releasing">True between DEL and the veth's deletion: the address is not free yet.</param>
public sealed record PodSubnetEntry(string Network, string ContainerId, string IfName, string Ip, string HostVeth, bool Releasing = false)
{
    internal string Key => KeyOf(Network, ContainerId, IfName);

    internal static string KeyOf(string network, string containerId, string ifName) => $"{network}/{containerId}/{ifName}";
}

/// <summary>
/// Durable per-pod IPAM from the node's leased subnet (issue 10 §2): like the agent's other
/// allocations, an address is written to disk (renamed into place, <see cref="GenerationFile"/>) before the plugin hears of it, so an
/// agent killed at any instant restarts without handing one address to two pods; an address comes
/// free only when its pod's veth is gone (<see cref="PodSubnetEntry.Releasing"/> until then). The
/// subnet's network address is never given (overlay puts it on the VXLAN device, flannel's scheme),
/// nor its broadcast address.
/// </summary>
public sealed class PodSubnetIpam
{
    // <name>.<generation>.json, the next written before the last is unlinked: no write renames over
    // an existing file, which on ext4 flushes it first — in the path of the ADD waiting for the reply
    // (a host-gw pod's wait for the answer after its veth: 0.37 → 0.05 ms, bench cni --plugin-log with
    // the agent before and after, docs/benchmarks.md "Where each ADD's time goes"). Not fsync'ed,
    // syncStateWrites or not: unlike StateDirectory's files, these survive an agent's death, not a
    // power loss.
    private readonly GenerationFile _file;
    private readonly Lock _lock = new();
    private readonly Dictionary<string, PodSubnetEntry> _entries;

    private PodSubnetIpam(GenerationFile file, IEnumerable<PodSubnetEntry> entries)
    {
        _file = file;
        _entries = entries.ToDictionary(e => e.Key);
    }

    /// <summary>
    /// Opens (or creates) the record named by <paramref name="path"/> (<c>…/host-gw.json</c>): its
    /// newest generation (<c>…/host-gw.&lt;19 digits&gt;.json</c>), or the file at
    /// <paramref name="path"/> itself as an older agent wrote it.
    /// </summary>
    /// <exception cref="IOException">The file cannot be read, or does not parse.</exception>
    public static PodSubnetIpam Open(string path)
    {
        var directory = Path.GetDirectoryName(path)!;
        Directory.CreateDirectory(directory);
        var file = new GenerationFile(directory, Path.GetFileNameWithoutExtension(path));
        if (file.Load(File.Delete, File.Delete) is not { } current) return new PodSubnetIpam(file, []);
        try
        {
            var record = JsonSerializer.Deserialize(File.ReadAllBytes(current), SubnetJson.Default.PodSubnetFile);
            return new PodSubnetIpam(file, record?.Pods ?? []);
        }
        catch (JsonException e)
        {
            throw new IOException($"{current} does not parse: {e.Message}", e);
        }
    }

    /// <summary>Every recorded pod.</summary>
    public IReadOnlyList<PodSubnetEntry> All()
    {
        lock (_lock) return [.. _entries.Values];
    }

    /// <summary>Whether <paramref name="hostVeth"/> is the node-side veth of a pod holding an address (not one being released).</summary>
    public bool HoldsVeth(string hostVeth)
    {
        lock (_lock)
        {
            foreach (var entry in _entries.Values)
                if (!entry.Releasing && entry.HostVeth == hostVeth) return true;
            return false;
        }
    }

    /// <summary>The entry of an attachment, or null.</summary>
    public PodSubnetEntry? Find(string network, string containerId, string ifName)
    {
        lock (_lock) return _entries.GetValueOrDefault(PodSubnetEntry.KeyOf(network, containerId, ifName));
    }

    /// <summary>
    /// The attachment's address: the one it holds (an ADD retried), else the lowest free one of
    /// <paramref name="subnet"/>, recorded before it is returned. Null when the subnet is full.
    /// </summary>
    public PodSubnetEntry? Allocate(string network, string containerId, string ifName, IPNetwork subnet, string hostVeth)
    {
        lock (_lock)
        {
            var key = PodSubnetEntry.KeyOf(network, containerId, ifName);
            if (_entries.TryGetValue(key, out var held) && !held.Releasing) return held;
            var used = _entries.Values.Select(e => e.Ip).ToHashSet();
            var ip = FreeAddresses(subnet).FirstOrDefault(a => !used.Contains(a.ToString()));
            if (ip is null) return null;
            var entry = new PodSubnetEntry(network, containerId, ifName, ip.ToString(), hostVeth);
            _entries[key] = entry;
            Save();
            return entry;
        }
    }

    /// <summary>DEL: marks the attachment's address releasing; null when it held none.</summary>
    public PodSubnetEntry? MarkReleasing(string network, string containerId, string ifName)
    {
        lock (_lock)
        {
            var key = PodSubnetEntry.KeyOf(network, containerId, ifName);
            if (!_entries.TryGetValue(key, out var held)) return null;
            if (held.Releasing) return held;
            _entries[key] = held with { Releasing = true };
            Save();
            return _entries[key];
        }
    }

    /// <summary>The pod's veth is gone: the address is free.</summary>
    public void Forget(PodSubnetEntry entry)
    {
        lock (_lock)
        {
            if (_entries.TryGetValue(entry.Key, out var held) && held.Releasing && _entries.Remove(entry.Key))
                Save();
        }
    }

    /// <summary>The host addresses of <paramref name="subnet"/>, lowest first, without its network and broadcast addresses.</summary>
    internal static IEnumerable<IPAddress> FreeAddresses(IPNetwork subnet)
    {
        Span<byte> bytes = stackalloc byte[4];
        if (!subnet.BaseAddress.TryWriteBytes(bytes, out _) || subnet.BaseAddress.AddressFamily != System.Net.Sockets.AddressFamily.InterNetwork)
            throw new ArgumentException($"{subnet} is not an IPv4 subnet", nameof(subnet));
        var first = BinaryPrimitives.ReadUInt32BigEndian(bytes);
        var size = subnet.PrefixLength >= 31 ? 0u : (1u << (32 - subnet.PrefixLength)) - 2;
        return Enumerate(first, size);

        static IEnumerable<IPAddress> Enumerate(uint first, uint size)
        {
            var buffer = new byte[4];
            for (var i = 1u; i <= size; i++)
            {
                BinaryPrimitives.WriteUInt32BigEndian(buffer, first + i);
                yield return new IPAddress(buffer);
            }
        }
    }

    // Whole file to a temporary, renamed to the next generation's name (nothing there to replace),
    // then the previous generation unlinked: a reader (or a restarted agent) never sees a torn record.
    private void Save()
    {
        var next = _file.Next;
        var temporary = next + ".tmp";
        // Created new, never truncated (StateDirectory.WriteAtomically says why: ext4 flushes a file
        // truncated to 0 when it is closed); one a failed write left goes first.
        File.Delete(temporary);
        using (var file = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write))
            file.Write(JsonSerializer.SerializeToUtf8Bytes(new PodSubnetFile([.. _entries.Values]), SubnetJson.Default.PodSubnetFile));
        File.Move(temporary, next);
        if (_file.Advance() is { } previous)
            File.Delete(previous);
    }
}

/// <summary>The IPAM record on disk.</summary>
public sealed record PodSubnetFile(IReadOnlyList<PodSubnetEntry> Pods);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, WriteIndented = true)]
[JsonSerializable(typeof(PodSubnetFile))]
internal sealed partial class SubnetJson : JsonSerializerContext;
