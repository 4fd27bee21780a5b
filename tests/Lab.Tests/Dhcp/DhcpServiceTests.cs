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

    [Fact]
    public void ReservationsFollowEnisAcrossSubnets()
    {
        using var dhcp = new DhcpService(new LabLayout("ftlab"));
        dhcp.SetReservation("eni-1", "subnet-a", LabLayout.ParseMac("02:00:00:00:00:01"), IPAddress.Parse("10.0.0.5"));
        dhcp.SetReservation("eni-2", "subnet-a", LabLayout.ParseMac("02:00:00:00:00:02"), IPAddress.Parse("10.0.0.6"));
        dhcp.SetReservation("eni-3", "subnet-b", LabLayout.ParseMac("02:00:00:00:00:03"), IPAddress.Parse("10.0.16.6"));
        Assert.Equal("02:00:00:00:00:01,10.0.0.5,eni-1\n02:00:00:00:00:02,10.0.0.6,eni-2\n", dhcp.RenderHosts("subnet-a"));
        dhcp.SetReservation("eni-1", null, null, null);
        Assert.Equal("02:00:00:00:00:02,10.0.0.6,eni-2\n", dhcp.RenderHosts("subnet-a"));
        Assert.Equal("02:00:00:00:00:03,10.0.16.6,eni-3\n", dhcp.RenderHosts("subnet-b"));
    }
}
