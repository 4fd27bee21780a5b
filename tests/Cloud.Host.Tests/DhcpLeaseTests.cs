namespace Fathom.Cloud.Host.Tests;

/// <summary>The line the agent's dhclient-script writes on BOUND.</summary>
public sealed class DhcpLeaseTests
{
    [Theory]
    [InlineData("10.77.0.61 255.255.255.0 10.77.0.1\n", "10.77.0.61", "10.77.0.0/24", "10.77.0.1")]
    [InlineData("10.77.0.61 255.255.255.0 10.77.0.254 10.77.0.253", "10.77.0.61", "10.77.0.0/24", "10.77.0.254")]
    [InlineData("10.77.0.61 255.255.255.0 ", "10.77.0.61", "10.77.0.0/24", "10.77.0.1")]           // no router: the first host
    [InlineData("10.77.0.61 255.255.255.0 192.168.1.1", "10.77.0.61", "10.77.0.0/24", "10.77.0.1")] // a router off the subnet is not one a pod can use
    [InlineData("172.16.5.9 255.255.240.0 172.16.0.1", "172.16.5.9", "172.16.0.0/20", "172.16.0.1")]
    public void A_lease_line_gives_address_subnet_and_router(string line, string address, string subnet, string gateway)
    {
        var lease = DhcpLease.Parse(line);
        Assert.Equal((address, subnet, gateway), (lease.Address.ToString(), lease.Subnet.ToString(), lease.Gateway.ToString()));
    }

    [Theory]
    [InlineData("")]
    [InlineData("10.77.0.61")]
    [InlineData("  255.255.255.0")]
    [InlineData("10.77.0.61 255.0.255.0")]
    [InlineData("10.77.0.61 255.255.255.255")]
    [InlineData("fd00::5 255.255.255.0")]
    public void Anything_else_is_a_format_error(string line) =>
        Assert.Throws<FormatException>(() => DhcpLease.Parse(line));
}
