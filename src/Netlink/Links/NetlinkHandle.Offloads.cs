using System.Runtime.InteropServices;
using System.Text;

namespace Fathom.Netlink;

public sealed partial class NetlinkHandle
{
    /// <summary>
    /// Turns generic receive offload on or off for <paramref name="name"/> in this handle's
    /// namespace (<c>ethtool -K NAME gro on|off</c>). The ethtool ioctl goes through the handle's own
    /// socket: a netlink socket hands SIOCETHTOOL to dev_ioctl in the namespace it belongs to. On a
    /// veth, GRO on gives the receiving end a NAPI context (kernel 5.13+), so a burst crossing the
    /// pair is coalesced into large packets before the node's stack sees it.
    /// </summary>
    /// <exception cref="NetlinkException">No such device (ENODEV), or the kernel refused the change (e.g. EOPNOTSUPP).</exception>
    public void SetGro(string name, bool on) => Ethtool(name, Interop.Ethtool.ETHTOOL_SGRO, on ? 1u : 0u, $"set GRO {(on ? "on" : "off")} on {name}");

    /// <summary>Whether generic receive offload is on for <paramref name="name"/> (<c>ethtool -k NAME</c>).</summary>
    /// <exception cref="NetlinkException">No such device (ENODEV).</exception>
    public bool GetGro(string name) => Ethtool(name, Interop.Ethtool.ETHTOOL_GGRO, 0, $"read GRO of {name}") != 0;

    private unsafe uint Ethtool(string name, uint command, uint data, string what)
    {
        if (!InterfaceNames.IsValid(name))
            throw new NetlinkException(Errno.EINVAL, $"{what}: '{name}' is not an interface name");
        var value = new Interop.Ethtool.EthtoolValue { Cmd = command, Data = data };
        var request = new Interop.Ethtool.IfReqData { Data = &value };
        Encoding.ASCII.GetBytes(name, new Span<byte>(request.Name, 15));
        lock (_gate)
        {
            if (Interop.Ethtool.Ioctl(_socket.Handle, Interop.Ethtool.SIOCETHTOOL, &request) != 0)
                throw new NetlinkException(Marshal.GetLastPInvokeError(), what);
        }
        return value.Data;
    }
}
