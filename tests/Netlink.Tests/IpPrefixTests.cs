using System.Net;
using System.Net.Sockets;

namespace Fathom.Netlink.Tests;

public sealed class IpPrefixTests
{
    [Theory]
    [InlineData("10.0.0.5/24", "10.0.0.5", 24, "10.0.0.0/24")]
    [InlineData("10.0.0.5", "10.0.0.5", 32, "10.0.0.5/32")]
    [InlineData("0.0.0.0/0", "0.0.0.0", 0, "0.0.0.0/0")]
    [InlineData("fd00::1:2/64", "fd00::1:2", 64, "fd00::/64")]
    [InlineData("fd00::1/127", "fd00::1", 127, "fd00::/127")]
    [InlineData("10.1.255.255/9", "10.1.255.255", 9, "10.0.0.0/9")]
    public void Parses_keeps_host_bits_and_masks_on_request(string text, string address, int length, string network)
    {
        var prefix = IpPrefix.Parse(text);

        Assert.Equal(IPAddress.Parse(address), prefix.Address);
        Assert.Equal(length, prefix.PrefixLength);
        Assert.Equal(IpPrefix.Parse(network), prefix.Network);
        Assert.Equal($"{address}/{length}", prefix.ToString());
        Assert.Equal(prefix, IpPrefix.Parse(prefix.ToString()));
        // In a message it is written straight into the message's buffer (TryFormat), the same text.
        Assert.Equal($"route {address}/{length} dev 3", $"route {prefix} dev {3}");
        Span<char> small = stackalloc char[prefix.ToString().Length - 1];
        Assert.False(prefix.TryFormat(small, out _, default, null));
        Span<char> exact = stackalloc char[prefix.ToString().Length];
        Assert.True(prefix.TryFormat(exact, out int written, default, null));
        Assert.Equal(prefix.ToString(), exact[..written].ToString());
    }

    [Fact]
    public void A_default_prefix_formats_as_nothing()
    {
        Assert.Equal("", default(IpPrefix).ToString());
        Assert.True(default(IpPrefix).TryFormat(Span<char>.Empty, out int written, default, null));
        Assert.Equal(0, written);
    }

    [Theory]
    [InlineData("")]
    [InlineData("10.0.0.1/33")]
    [InlineData("10.0.0.1/-1")]
    [InlineData("10.0.0.1/")]
    [InlineData("10.0.0.1/2 4")]
    [InlineData("fd00::/129")]
    [InlineData("not-an-ip/8")]
    // inet_aton's short and octal forms, which IPAddress.Parse takes: 10.0.0.244, 8.0.0.1, 1.2.0.3, 10.0.0.1.
    [InlineData("10.244/16")]
    [InlineData("010.0.0.1/24")]
    [InlineData("1.2.3/8")]
    [InlineData("0x0a.0.0.1/8")]
    [InlineData("10")]
    [InlineData("fe80::1%2/64")]
    public void Rejects_malformed_text(string text)
    {
        Assert.False(IpPrefix.TryParse(text, out _));
        Assert.Equal(Errno.EINVAL, Assert.Throws<NetlinkException>(() => IpPrefix.Parse(text)).Error);
    }

    [Fact]
    public void Constructor_checks_the_length_against_the_family()
    {
        Assert.Equal(Errno.EINVAL, Assert.Throws<NetlinkException>(() => new IpPrefix(IPAddress.Loopback, 33)).Error);
        Assert.Equal(AddressFamily.InterNetworkV6, new IpPrefix(IPAddress.IPv6Loopback, 128).Family);
        Assert.Equal(IpPrefix.Parse("10.0.0.1/32"), IpPrefix.Host(IPAddress.Parse("10.0.0.1")));
    }
}
