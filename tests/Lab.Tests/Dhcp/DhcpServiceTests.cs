using System.Net;
using Fathom.Lab.Dhcp;

namespace Fathom.Lab.Tests.Dhcp;

public sealed class DhcpServiceTests
{
    [Theory]
    [InlineData(20, "255.255.240.0")]
    [InlineData(24, "255.255.255.0")]
    [InlineData(0, "0.0.0.0")]
    [InlineData(32, "255.255.255.255")]
    public void Masks(int prefix, string mask) => Assert.Equal(mask, DhcpService.PrefixToMask(prefix));

    [Fact]
    public void DnsmasqServesOnlyReservationsOnItsBridgeWithoutDns()
    {
        using var dhcp = new DhcpService(new LabLayout("ftlab"));
        var args = dhcp.Arguments("br-s1", IPNetwork.Parse("10.0.0.0/20"), "/run/fathom-lab/ftlab/dhcp-br-s1.hosts");
        Assert.Contains("--port=0", args);
        Assert.Contains("--interface=br-s1", args);
        Assert.Contains("--bind-interfaces", args);
        Assert.Contains("--conf-file=/dev/null", args);
        Assert.Contains("--dhcp-range=10.0.0.0,static,255.255.240.0,1h", args);
        Assert.Contains("--dhcp-hostsfile=/run/fathom-lab/ftlab/dhcp-br-s1.hosts", args);
        // `lab down` recognizes its dnsmasq by this argument.
        Assert.Contains("--pid-file=/run/fathom-lab/ftlab/dnsmasq-br-s1.pid", args);
    }
}
