using System.Net;

namespace Fathom.Lab.Tests;

public sealed class LabLayoutTests
{
    [Fact]
    public void NamesFollowThePrefix()
    {
        var layout = new LabLayout("ftlab");
        Assert.Equal("ftlab-vpc", layout.VpcNetns);
        Assert.Equal("ftlab-node2", layout.NodeNetns(2));
        Assert.Equal("ftlab-pod-web", layout.PodNetns("web"));
        Assert.Equal("/run/fathom-lab/ftlab", layout.StateDirectory);
        Assert.True(layout.Owns("ftlab-node1"));
        // Another lab whose prefix merely starts the same is not ours.
        Assert.False(layout.Owns("ftlab2-vpc"));
        Assert.False(new LabLayout("flab").Owns("ftlab-vpc"));
    }

    [Theory]
    [InlineData("")]
    [InlineData("Flab")]
    [InlineData("1lab")]
    [InlineData("lab-x")]
    [InlineData("abcdefghijklmnopq")]
    [InlineData("fathom")] // would own fathomctl bench's fathom-bench-…
    [InlineData("ftest")]  // would own every test's ftest-…
    public void RejectsPrefixesThatCouldCollide(string prefix) =>
        Assert.Throws<ArgumentException>(() => new LabLayout(prefix));

    [Fact]
    public void SubnetsAreSlash20sWithTheRouterAtDotOne()
    {
        Assert.Equal(IPNetwork.Parse("10.0.0.0/20"), LabLayout.SubnetCidr(0));
        Assert.Equal(IPNetwork.Parse("10.0.32.0/20"), LabLayout.SubnetCidr(2));
        Assert.Equal(IPAddress.Parse("10.0.32.1"), Fathom.Lab.Ec2.SubnetAddressing.Gateway(LabLayout.SubnetCidr(2)));
        Assert.Throws<ArgumentOutOfRangeException>(() => LabLayout.SubnetCidr(LabLayout.MaxSubnets));
        Assert.All(Enumerable.Range(0, LabLayout.MaxSubnets), k => Assert.True(LabLayout.VpcCidr.Contains(LabLayout.SubnetCidr(k).BaseAddress)));
    }

    [Fact]
    public void VpcPortNameRoundTripsTheMac()
    {
        var port = LabLayout.VpcPortName(LabLayout.ParseMac("02:ab:cd:01:23:ef"));
        Assert.Equal("v02abcd0123ef", port);
        Assert.True(port.Length < 16); // IFNAMSIZ
        Assert.Equal(LabLayout.ParseMac("02:ab:cd:01:23:ef"), LabLayout.MacOfVpcPort(port));
        Assert.Null(LabLayout.MacOfVpcPort("br-s1"));
        Assert.Null(LabLayout.MacOfVpcPort("vethabcdef0123"));
        Assert.Null(LabLayout.MacOfVpcPort("v02abcd0123eg"));
    }

    [Fact]
    public void MacsPrintAsEc2PrintsThem() =>
        Assert.Equal("02:ab:0c:01:23:ef", Fathom.Netlink.InterfaceNames.FormatMac(LabLayout.ParseMac("02:AB:0c:01:23:ef")));

    [Fact]
    public void DevicesAreEthN() => Assert.Equal("eth3", LabLayout.DeviceName(3));
}
