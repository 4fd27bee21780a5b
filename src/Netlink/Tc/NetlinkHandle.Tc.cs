using Fathom.Netlink.Tc;
using Fathom.Netlink.Wire;

namespace Fathom.Netlink;

public sealed partial class NetlinkHandle
{
    /// <summary>
    /// Adds the clsact qdisc to a device (<c>tc qdisc add dev D clsact</c>): the hooks tc filters
    /// attach to, without queueing anything. Returns false when the device has one already.
    /// </summary>
    /// <exception cref="NetlinkException">ENODEV for no such device; the kernel's refusal otherwise.</exception>
    public bool TryAddClsact(int index)
    {
        try
        {
            Execute((ref NetlinkWriter w) => TcMessages.WriteClsact(ref w, Rtnl.RTM_NEWQDISC, Rtnl.NLM_F_ACK | Rtnl.NLM_F_CREATE | Rtnl.NLM_F_EXCL, index),
                $"add clsact qdisc to link {index}");
            return true;
        }
        catch (NetlinkException e) when (e.IsAlreadyExists)
        {
            return false;
        }
    }

    /// <summary>Deletes a device's clsact qdisc and every filter on it. Returns false when it has none.</summary>
    public bool TryDeleteClsact(int index)
    {
        try
        {
            Execute((ref NetlinkWriter w) => TcMessages.WriteClsact(ref w, Rtnl.RTM_DELQDISC, Rtnl.NLM_F_ACK, index),
                $"delete clsact qdisc of link {index}");
            return true;
        }
        catch (NetlinkException e) when (e.Error is Errno.ENOENT or Errno.EINVAL)
        {
            // No qdisc: ENOENT; "Cannot find specified qdisc on specified device" is EINVAL (sch_api.c tc_get_qdisc).
            return false;
        }
    }

    /// <summary>
    /// Attaches <paramref name="program"/> to a clsact hook as a direct-action <c>bpf</c> filter of
    /// <paramref name="priority"/>, handle 1, replacing the program of an earlier filter there in one
    /// step (NLM_F_REPLACE: no moment without a filter). The device needs its clsact qdisc first
    /// (<see cref="TryAddClsact"/>). The filter holds the program; the caller may dispose of it afterwards.
    /// </summary>
    /// <exception cref="NetlinkException">ENODEV, EINVAL without a clsact qdisc, or the kernel's refusal.</exception>
    public void ReplaceTcBpfFilter(int index, TcHook hook, ushort priority, BpfProgram program, string name)
    {
        ArgumentNullException.ThrowIfNull(program);
        ArgumentNullException.ThrowIfNull(name);
        if (priority == 0)
            throw new NetlinkException(Errno.EINVAL, $"attach bpf filter {name}: priority 0 lets the kernel choose one; give one");
        var added = false;
        try
        {
            program.DangerousAddRef(ref added);
            var fd = program.Fd;
            Execute((ref NetlinkWriter w) => TcMessages.WriteBpfFilter(ref w, Rtnl.NLM_F_ACK | Rtnl.NLM_F_CREATE | Rtnl.NLM_F_REPLACE,
                index, hook, priority, 1, fd, name), $"attach bpf filter {name} to link {index} {hook.ToString().ToLowerInvariant()} pref {priority}");
        }
        finally
        {
            if (added) program.DangerousRelease();
        }
    }

    /// <summary>Lists the <c>bpf</c> filters on one hook of a device (<c>tc filter show dev D ingress</c>); empty without a clsact qdisc.</summary>
    public IReadOnlyList<TcBpfFilter> ListTcBpfFilters(int index, TcHook hook)
    {
        try
        {
            return Dump((ref NetlinkWriter w) => TcMessages.WriteFilterDump(ref w, index, hook), TcMessages.ParseBpfFilter,
                $"list bpf filters of link {index} {hook.ToString().ToLowerInvariant()}");
        }
        catch (NetlinkException e) when (e.Error is Errno.EINVAL or Errno.ENOENT)
        {
            // No clsact qdisc to hold filters: nothing attached (cls_api.c tc_dump_tfilter).
            return [];
        }
    }

    /// <summary>Deletes the filters of one priority on a hook. Returns false when there were none.</summary>
    public bool TryDeleteTcFilters(int index, TcHook hook, ushort priority)
    {
        try
        {
            Execute((ref NetlinkWriter w) => TcMessages.WriteDeleteFilters(ref w, index, hook, priority),
                $"delete filters pref {priority} of link {index} {hook.ToString().ToLowerInvariant()}");
            return true;
        }
        catch (NetlinkException e) when (e.Error is Errno.ENOENT or Errno.EINVAL)
        {
            return false;
        }
    }
}
