using System.Net.Sockets;
using Fathom.Netlink.Addresses;

namespace Fathom.Netlink;

public sealed partial class NetlinkHandle
{
    /// <summary>Adds an address (<c>ip addr add PREFIX dev</c>).</summary>
    /// <exception cref="NetlinkException">EEXIST when the address is already there.</exception>
    public void AddAddress(int index, IpPrefix prefix, AddressOptions? options = null)
    {
        lock (_gate)
        {
            var w = _socket.BeginRequest();
            AddressMessages.WriteAdd(ref w, index, prefix, options);
            _socket.Execute(ref w, $"add address {prefix} to link {index}");
        }
    }

    /// <summary>Deletes an address.</summary>
    /// <exception cref="NetlinkException">EADDRNOTAVAIL when it is not there.</exception>
    public void DeleteAddress(int index, IpPrefix prefix)
    {
        lock (_gate)
        {
            var w = _socket.BeginRequest();
            AddressMessages.WriteDelete(ref w, index, prefix);
            _socket.Execute(ref w, $"delete address {prefix} from link {index}");
        }
    }

    /// <summary>Lists addresses, optionally of one family and one link.</summary>
    public IReadOnlyList<Address> ListAddresses(AddressFamily? family = null, int? index = null)
    {
        List<Address> addresses;
        lock (_gate)
        {
            var w = _socket.BeginRequest();
            AddressMessages.WriteDump(ref w, family);
            addresses = _socket.Dump(ref w, AddressMessages.Parse, "list addresses");
        }
        if (index is int i) addresses.RemoveAll(a => a.Index != i);
        if (family is { } f) addresses.RemoveAll(a => a.Family != f);
        return addresses;
    }
}
