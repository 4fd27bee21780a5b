using Fathom.Agent.Protocol;
using Fathom.Agent.State;

namespace Fathom.Agent.Teardown;

/// <summary>
/// Releases attachments in the write-ahead order (docs/agent.md, "Writing"): the IP's cooldown and
/// the teardown job are recorded first, the allocation removed last, so an agent killed in between
/// still holds the allocation (the runtime retries DEL; teardown executors are idempotent) and never
/// frees an IP early. What a DEL, a GC and reconcile share.
/// </summary>
public sealed class AttachmentRelease(AllocationStore store, IpCooldown cooldown, TeardownQueue teardown, AgentLog log)
{
    /// <summary>Releases <paramref name="key"/>; false when it held nothing (DEL is idempotent).</summary>
    /// <exception cref="IOException">The state could not be written; what was recorded stays recorded.</exception>
    public bool Release(AttachmentKey key)
    {
        lock (store.ReleaseGate)
        {
            if (!store.TryGet(key, out var record))
                return false;
            switch (record.Allocation)
            {
                case SharedAllocation shared:
                    cooldown.Start(shared.Ip, shared.EniId);
                    teardown.Enqueue(new TeardownJob
                    {
                        Action = TeardownAction.DeleteVeth, Device = shared.HostVeth, EniId = shared.EniId,
                        NetnsPath = record.NetnsPath, PodIfName = record.IfName, PodIp = shared.Ip, RouteTable = shared.RouteTable,
                    });
                    break;
                case UnderlayAllocation underlay:
                    teardown.Enqueue(new TeardownJob
                    {
                        Action = TeardownAction.ReturnEni, Device = underlay.HostDevice, EniId = underlay.EniId, Mac = underlay.Mac,
                        NetnsPath = record.NetnsPath, PodIfName = record.IfName,
                    });
                    break;
            }
            var released = store.TryRelease(key, out _);
            if (released)
            {
                var pod = record.Pod is null ? "-" : $"{record.Pod.Namespace}/{record.Pod.Name}";
                log.Info("allocation.released", $"{record.Allocation.Address} on {record.Allocation.EniId} of {pod} released",
                    ("pod", pod), ("podUid", record.Pod?.Uid), ("container", record.ContainerId), ("eni", record.Allocation.EniId), ("ip", record.Allocation.Ip));
            }
            return released;
        }
    }

    /// <summary>
    /// Releases every allocation whose pod is gone: its netns, recorded at ADD, no longer exists
    /// (<paramref name="netnsAlive"/> false). That frees what an agent killed mid-ADD left recorded
    /// (a <c>pending</c> record, or one committed whose reply never reached the plugin) once the
    /// runtime has given up on the sandbox and deleted its netns, and what a runtime that never sent
    /// DEL left. A record without a netns, or one the agent cannot see (null), is kept: only the
    /// runtime's DEL or GC frees it. An ADD in flight always has its netns, so it is never released.
    /// </summary>
    /// <returns>The attachments released.</returns>
    public IReadOnlyList<AttachmentKey> ReleaseGone(Func<string?, bool?> netnsAlive)
    {
        ArgumentNullException.ThrowIfNull(netnsAlive);
        var released = new List<AttachmentKey>();
        foreach (var record in store.All().OrderBy(r => r.CreatedAt))
        {
            if (netnsAlive(record.NetnsPath) != false)
                continue;
            try
            {
                if (!Release(record.Key))
                    continue;
            }
            catch (IOException e)
            {
                log.Error("reconcile.release-failed", $"{record.Key}'s pod is gone but releasing it failed, retried at the next reconcile: {e.Message}",
                    ("attachment", record.Key.ToString()), ("error", e.Message));
                continue;
            }
            released.Add(record.Key);
            log.Info("reconcile.pod-gone", $"released {record.Key} ({record.Allocation.Ip}, {(record.State == AllocationState.Pending ? "pending" : "committed")}): its netns {record.NetnsPath} is gone",
                ("attachment", record.Key.ToString()), ("ip", record.Allocation.Ip), ("netns", record.NetnsPath));
        }
        return released;
    }
}
