using System.Net.Sockets;
using Fathom.Netlink.Addresses;
using Fathom.Netlink.Wire;

namespace Fathom.Netlink;

public sealed partial class NetlinkHandle
{
    /// <summary>Adds an address (<c>ip addr add PREFIX dev</c>).</summary>
    /// <exception cref="NetlinkException">EEXIST when the address is already there.</exception>
    public void AddAddress(int index, IpPrefix prefix, AddressOptions? options = null) =>
        Execute((ref NetlinkWriter w) => AddressMessages.WriteAdd(ref w, index, prefix, options),
            $"add address {prefix} to link {index}");

    /// <summary>Deletes an address.</summary>
    /// <exception cref="NetlinkException">EADDRNOTAVAIL when it is not there.</exception>
    public void DeleteAddress(int index, IpPrefix prefix) =>
        Execute((ref NetlinkWriter w) => AddressMessages.WriteDelete(ref w, index, prefix),
            $"delete address {prefix} from link {index}");

    /// <summary>Lists addresses, optionally of one family and one link.</summary>
    public IReadOnlyList<Address> ListAddresses(AddressFamily? family = null, int? index = null)
    {
        var addresses = Dump((ref NetlinkWriter w) => AddressMessages.WriteDump(ref w, family),
            AddressMessages.Parse, "list addresses");
        if (index is int i) addresses.RemoveAll(a => a.Index != i);
        if (family is { } f) addresses.RemoveAll(a => a.Family != f);
        return addresses;
    }
}
