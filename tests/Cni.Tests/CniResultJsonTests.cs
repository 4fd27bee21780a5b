using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Fathom.Netlink;

namespace Fathom.Cni.Tests;

public sealed class CniResultJsonTests
{
    // The example result of CNI spec 1.1 §"Success" (and of the 1.0.0 spec, same shape).
    private const string SpecExample11 = """
        {
          "cniVersion": "1.1.0",
          "interfaces": [
              { "name": "cni0", "mac": "00:11:22:33:44:55" },
              { "name": "veth3243", "mac": "55:44:33:22:11:11" },
              { "name": "eth0", "mac": "99:88:77:66:55:44", "sandbox": "/var/run/netns/blue" }
          ],
          "ips": [ { "address": "10.1.0.5/16", "gateway": "10.1.0.1", "interface": 2 } ],
          "routes": [ { "dst": "0.0.0.0/0" } ],
          "dns": { "nameservers": [ "10.1.0.1" ] }
        }
        """;

    // The example result of the 0.4.0 spec: ips carry "version".
    private const string SpecExample04 = """
        {
          "cniVersion": "0.4.0",
          "interfaces": [
              { "name": "cni0", "mac": "00:11:22:33:44:55" },
              { "name": "veth3243", "mac": "55:44:33:22:11:11" },
              { "name": "eth0", "mac": "99:88:77:66:55:44", "sandbox": "/var/run/netns/blue" }
          ],
          "ips": [ { "version": "4", "address": "10.1.0.5/16", "gateway": "10.1.0.1", "interface": 2 } ],
          "routes": [ { "dst": "0.0.0.0/0" } ],
          "dns": { "nameservers": [ "10.1.0.1" ] }
        }
        """;

    private static CniResult Parse(string json) => CniResultJson.Parse(Encoding.UTF8.GetBytes(json));

    private static void AssertJsonEqual(string expected, string actual) =>
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse(expected), JsonNode.Parse(actual)), $"expected\n{expected}\ngot\n{actual}");

    [Fact]
    public void Reads_the_spec_example()
    {
        var r = Parse(SpecExample11);
        Assert.Equal("1.1.0", r.CniVersion);
        Assert.Equal(3, r.Interfaces.Count);
        Assert.Equal(new CniInterface("eth0", "99:88:77:66:55:44", Sandbox: "/var/run/netns/blue"), r.Interfaces[2]);
        Assert.Equal(new CniIpConfig(IpPrefix.Parse("10.1.0.5/16"), IPAddress.Parse("10.1.0.1"), 2), Assert.Single(r.Ips));
        Assert.Equal(IpPrefix.Parse("0.0.0.0/0"), Assert.Single(r.Routes).Destination);
        Assert.Equal(["10.1.0.1"], r.Dns!.Nameservers);
    }

    [Theory]
    [InlineData("1.1.0", SpecExample11)]
    [InlineData("0.4.0", SpecExample04)]
    public void Writes_the_spec_examples_back(string version, string golden)
    {
        var r = Parse(SpecExample11);
        AssertJsonEqual(golden, CniResultJson.ToJsonString(r, version));
    }

    [Theory]
    [InlineData("0.3.0")]
    [InlineData("0.3.1")]
    [InlineData("0.4.0")]
    public void Versions_before_1_0_carry_ips_version(string version)
    {
        var r = new CniResult
        {
            Ips =
            [
                new CniIpConfig(IpPrefix.Parse("10.1.0.5/16"), IPAddress.Parse("10.1.0.1"), 0),
                new CniIpConfig(IpPrefix.Parse("fd00::5/64"), IPAddress.Parse("fd00::1"), 0),
            ],
        };
        var json = (JsonObject)JsonNode.Parse(CniResultJson.ToJsonString(r, version))!;
        Assert.Equal(version, (string)json["cniVersion"]!);
        Assert.Equal("4", (string)json["ips"]![0]!["version"]!);
        Assert.Equal("6", (string)json["ips"]![1]!["version"]!);
        Assert.Equal("fd00::5/64", (string)json["ips"]![1]!["address"]!);
    }

    [Theory]
    [InlineData("1.0.0")]
    [InlineData("1.1.0")]
    public void Versions_from_1_0_have_no_ips_version(string version)
    {
        var r = new CniResult { Ips = [new CniIpConfig(IpPrefix.Parse("10.1.0.5/16"))] };
        var json = (JsonObject)JsonNode.Parse(CniResultJson.ToJsonString(r, version))!;
        Assert.Null(json["ips"]![0]!["version"]);
    }

    [Fact]
    public void Fields_new_in_1_1_are_written_only_for_1_1()
    {
        var r = new CniResult
        {
            Interfaces = [new CniInterface("eth0", "02:00:00:00:00:01", Mtu: 9001, Sandbox: "/run/netns/p", SocketPath: "/run/vhost.sock", PciId: "0000:00:04.0")],
            Routes = [new CniRoute(IpPrefix.Parse("0.0.0.0/0"), IPAddress.Parse("10.0.0.1"), Mtu: 1400, AdvMss: 1360, Priority: 100, Table: 10, Scope: 0)],
        };
        AssertJsonEqual("""
            {"cniVersion":"1.1.0",
             "interfaces":[{"name":"eth0","mac":"02:00:00:00:00:01","mtu":9001,"sandbox":"/run/netns/p","socketPath":"/run/vhost.sock","pciID":"0000:00:04.0"}],
             "routes":[{"dst":"0.0.0.0/0","gw":"10.0.0.1","mtu":1400,"advmss":1360,"priority":100,"table":10,"scope":0}]}
            """, CniResultJson.ToJsonString(r, "1.1.0"));
        AssertJsonEqual("""
            {"cniVersion":"1.0.0",
             "interfaces":[{"name":"eth0","mac":"02:00:00:00:00:01","sandbox":"/run/netns/p"}],
             "routes":[{"dst":"0.0.0.0/0","gw":"10.0.0.1"}]}
            """, CniResultJson.ToJsonString(r, "1.0.0"));
    }

    [Fact]
    public void An_empty_result_is_just_the_version() =>
        AssertJsonEqual("""{"cniVersion":"0.3.1"}""", CniResultJson.ToJsonString(new CniResult(), "0.3.1"));

    [Fact]
    public void Reads_1_1_fields_back()
    {
        var r = Parse("""
            {"cniVersion":"1.1.0",
             "interfaces":[{"name":"eth0","mtu":9001,"socketPath":"/s","pciID":"0000:00:04.0"}],
             "routes":[{"dst":"10.0.0.0/8","gw":"10.0.0.1","mtu":1400,"advmss":1360,"priority":100,"table":10,"scope":253}]}
            """);
        Assert.Equal(new CniInterface("eth0", Mtu: 9001, SocketPath: "/s", PciId: "0000:00:04.0"), r.Interfaces[0]);
        Assert.Equal(new CniRoute(IpPrefix.Parse("10.0.0.0/8"), IPAddress.Parse("10.0.0.1"), 1400, 1360, 100, 10, 253), r.Routes[0]);
    }

    [Fact]
    public void Reads_a_0_2_0_result_of_an_old_ipam_plugin()
    {
        // Reference pkg/types/020: ip4/ip6 objects with their own routes.
        var r = Parse("""
            {"cniVersion":"0.2.0",
             "ip4":{"ip":"10.1.0.5/16","gateway":"10.1.0.1","routes":[{"dst":"0.0.0.0/0"}]},
             "ip6":{"ip":"fd00::5/64","routes":[{"dst":"::/0","gw":"fd00::1"}]},
             "dns":{"nameservers":["10.1.0.1"]}}
            """);
        Assert.Equal(2, r.Ips.Count);
        Assert.Equal(new CniIpConfig(IpPrefix.Parse("10.1.0.5/16"), IPAddress.Parse("10.1.0.1")), r.Ips[0]);
        Assert.Equal(IpPrefix.Parse("fd00::5/64"), r.Ips[1].Address);
        Assert.Equal([IpPrefix.Parse("0.0.0.0/0"), IpPrefix.Parse("::/0")], r.Routes.Select(x => x.Destination));
        Assert.Equal(IPAddress.Parse("fd00::1"), r.Routes[1].Gateway);
        // ...and writes it in a current shape.
        AssertJsonEqual("""
            {"cniVersion":"0.3.1",
             "ips":[{"version":"4","address":"10.1.0.5/16","gateway":"10.1.0.1"},{"version":"6","address":"fd00::5/64"}],
             "routes":[{"dst":"0.0.0.0/0"},{"dst":"::/0","gw":"fd00::1"}],
             "dns":{"nameservers":["10.1.0.1"]}}
            """, CniResultJson.ToJsonString(r, "0.3.1"));
    }

    [Theory]
    [InlineData("0.3.0")]
    [InlineData("0.3.1")]
    [InlineData("0.4.0")]
    [InlineData("1.0.0")]
    [InlineData("1.1.0")]
    public void Round_trips_in_every_version(string version)
    {
        var r = Parse(SpecExample11);
        var again = CniResultJson.Parse(CniResultJson.Serialize(r, version));
        Assert.Equal(version, again.CniVersion);
        Assert.Equal(r.Interfaces, again.Interfaces);
        Assert.Equal(r.Ips, again.Ips);
        Assert.Equal(r.Routes, again.Routes);
        Assert.Equal(r.Dns!.Nameservers, again.Dns!.Nameservers);
    }

    [Fact]
    public void An_empty_dns_object_is_no_dns()
    {
        // The Go reference always writes "dns":{}; it carries nothing.
        Assert.Null(Parse("""{"cniVersion":"1.0.0","dns":{}}""").Dns);
    }

    [Fact]
    public void Refuses_to_write_a_version_before_0_3_0()
    {
        var e = Assert.Throws<CniException>(() => CniResultJson.ToJsonString(new CniResult(), "0.2.0"));
        Assert.Equal(CniErrorCode.IncompatibleVersion, e.Code);
    }

    [Theory]
    [InlineData("""{"ips":[{"address":"10.1.0.5/33"}]}""", "ips[0].address")]
    [InlineData("""{"ips":[{"gateway":"10.1.0.1"}]}""", "ips[0].address")]
    [InlineData("""{"ips":{}}""", "ips")]
    [InlineData("""{"ips":[{"address":"10.1.0.5/16","interface":"0"}]}""", "ips[0].interface")]
    [InlineData("""{"routes":[{"gw":"10.0.0.1"}]}""", "routes[0].dst")]
    [InlineData("""{"routes":[{"dst":"0.0.0.0/0","mtu":1.5}]}""", "routes[0].mtu")]
    [InlineData("""{"interfaces":[{"name":1}]}""", "interfaces[0].name")]
    [InlineData("""{"interfaces":[7]}""", "interfaces[0]")]
    public void Malformed_results_name_the_field(string json, string field)
    {
        var e = Assert.Throws<CniException>(() => Parse(json));
        Assert.Equal(CniErrorCode.DecodeFailure, e.Code);
        Assert.Contains(field, e.Message);
    }
}
