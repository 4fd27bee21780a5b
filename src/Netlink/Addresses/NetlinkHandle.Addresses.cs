using System.Net.Sockets;

namespace Fathom.Netlink;

public sealed partial class NetlinkHandle
{
    /// <summary>Adds an address (<c>ip addr add PREFIX dev</c>).</summary>
    /// <exception cref="NetlinkException">EEXIST when the address is already there.</exception>
    public void AddAddress(int index, IpPrefix prefix, AddressOptions? options = null) => throw new NotImplementedException();

    /// <summary>Deletes an address.</summary>
    /// <exception cref="NetlinkException">EADDRNOTAVAIL when it is not there.</exception>
    public void DeleteAddress(int index, IpPrefix prefix) => throw new NotImplementedException();

    /// <summary>Lists addresses, optionally of one family and one link.</summary>
    public IReadOnlyList<Address> ListAddresses(AddressFamily? family = null, int? index = null) => throw new NotImplementedException();
}
