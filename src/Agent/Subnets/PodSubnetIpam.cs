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
/// allocations, an address is written to the state directory (<see cref="StateDirectory.WriteAtomically"/>:
/// fsync'ed when <c>syncStateWrites</c> is on, mode 0600) before the plugin hears of it, so an agent
/// killed at any instant restarts without handing one address to two pods; a change whose write
/// fails is undone, so nothing is answered that is not on disk. An address comes free only when its
/// pod's veth is gone (<see cref="PodSubnetEntry.Releasing"/> until then). The subnet's network
/// address is never given (overlay puts it on the VXLAN device, flannel's scheme), nor its
/// broadcast address.
/// </summary>
public sealed class PodSubnetIpam
{
    // subnets/<name>.<generation>.json, the next written before the last is unlinked: no write
    // renames over an existing file, which on ext4 flushes it first — in the path of the ADD waiting
    // for the reply (a host-gw pod's wait for the answer after its veth: 0.37 → 0.05 ms, bench cni
    // --plugin-log with the agent before and after, docs/benchmarks.md "Where each ADD's time goes").
    private readonly StateDirectory _state;
    private readonly GenerationFile _file;
    private readonly Lock _lock = new();
    private readonly Dictionary<string, PodSubnetEntry> _entries;

    private PodSubnetIpam(StateDirectory state, GenerationFile file, IEnumerable<PodSubnetEntry> entries)
    {
        _state = state;
        _file = file;
        _entries = entries.ToDictionary(e => e.Key);
    }

    /// <summary>
    /// Opens (or creates) the record <paramref name="name"/> (<c>host-gw</c>, <c>overlay</c>) in the
    /// state's <c>subnets/</c> folder: its newest generation (<c>subnets/host-gw.&lt;19 digits&gt;.json</c>),
    /// or <c>subnets/host-gw.json</c> as an older agent wrote it.
    /// </summary>
    /// <exception cref="IOException">
    /// The file cannot be read, or does not parse. The agent does not start then rather than forget
    /// which addresses its pods hold: it would hand them out again.
    /// </exception>
    public static PodSubnetIpam Open(StateDirectory state, string name)
    {
        ArgumentNullException.ThrowIfNull(state);
        ArgumentException.ThrowIfNullOrEmpty(name);
        var file = new GenerationFile(state.Subdirectory("subnets"), name);
        var current = file.Load(
            temporary =>
            {
                File.Delete(temporary);
                state.Log.Info("state.stray-removed", $"removed {temporary}: a write cut short by a crash, never committed", ("file", temporary));
            },
            older => state.DeleteDurably(older));
        if (current is null) return new PodSubnetIpam(state, file, []);
        try
        {
            var record = JsonSerializer.Deserialize(File.ReadAllBytes(current), SubnetJson.Default.PodSubnetFile);
            return new PodSubnetIpam(state, file, record?.Pods ?? []);
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
            Commit(key, held, entry);
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
            var releasing = held with { Releasing = true };
            Commit(key, held, releasing);
            return releasing;
        }
    }

    /// <summary>The pod's veth is gone: the address is free.</summary>
    public void Forget(PodSubnetEntry entry)
    {
        lock (_lock)
        {
            if (_entries.TryGetValue(entry.Key, out var held) && held.Releasing)
                Commit(entry.Key, held, null);
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

    // The change in memory, then on disk; a write that fails (a full disk, EIO) undoes it, so a
    // retried ADD or DEL writes again instead of finding a change that was never recorded. The whole
    // record goes to the next generation's name (nothing there to replace), then the previous
    // generation is unlinked: a reader (or a restarted agent) never sees a torn record, and one that
    // finds both takes the newest.
    private void Commit(string key, PodSubnetEntry? before, PodSubnetEntry? after)
    {
        Set(key, after);
        try
        {
            _state.WriteAtomically(_file.Next, JsonSerializer.SerializeToUtf8Bytes(new PodSubnetFile([.. _entries.Values]), SubnetJson.Default.PodSubnetFile));
        }
        catch
        {
            Set(key, before);
            throw;
        }
        if (_file.Advance() is not { } previous) return;
        try
        {
            _state.DeleteDurably(previous);
        }
        catch (IOException e)
        {
            // The change is on disk; the superseded file is removed when the record is next opened.
            _state.Log.Warning("state.unlink-failed", $"could not remove {previous}, superseded by {_file.Current}: {e.Message}", ("file", previous));
        }
    }

    private void Set(string key, PodSubnetEntry? entry)
    {
        if (entry is null) _entries.Remove(key);
        else _entries[key] = entry;
    }
}

/// <summary>The IPAM record on disk.</summary>
public sealed record PodSubnetFile(IReadOnlyList<PodSubnetEntry> Pods);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, WriteIndented = true)]
[JsonSerializable(typeof(PodSubnetFile))]
internal sealed partial class SubnetJson : JsonSerializerContext;
