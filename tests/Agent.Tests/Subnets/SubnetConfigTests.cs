using Fathom.Agent.Hosting;

namespace Fathom.Agent.Tests.Subnets;

/// <summary>The <c>subnets</c> section of agent.json (docs/agent.md): read, defaulted, and refused by field.</summary>
public sealed class SubnetConfigTests
{
    private static AgentConfig Parse(string subnets) =>
        AgentConfig.Parse(System.Text.Encoding.UTF8.GetBytes($$"""{ "subnets": {{subnets}} }"""), "agent.json");

    [Fact]
    public void Both_modes_with_their_own_datastores_parse()
    {
        var config = Parse("""
            { "nodeName": "n1", "nodeIp": "10.0.0.5", "fabricDevice": "eth0",
              "hostGw": { "datastore": { "clusterCidr": "10.244.0.0/16", "directory": "/var/lib/fathom/datastore/host-gw" } },
              "overlay": { "datastore": { "kind": "etcd", "clusterCidr": "10.245.0.0/16", "endpoints": ["http://10.0.0.1:2379"], "cluster": "c" }, "vni": 7 } }
            """).Subnets!;
        Assert.Equal("fathom.7", config.Overlay!.EffectiveDevice);
        Assert.Equal(24, config.HostGw!.Datastore.SubnetLength);
        Assert.Equal(TimeSpan.FromSeconds(120), config.HostGw.Datastore.ToOptions().Ttl);
        Assert.Equal("etcd (http://10.0.0.1:2379) cluster 'c'", config.Overlay.Datastore.Describe());
        Assert.Equal(("kernel", "kernel"), (config.HostGw.Redirect, config.Overlay.Redirect)); // the node forwards unless told
        Assert.Equal("bpf", Parse("""{ "hostGw": { "datastore": { "clusterCidr": "10.244.0.0/16" }, "redirect": "bpf" } }""").Subnets!.HostGw!.Redirect);
        Assert.Equal((true, true), (config.HostGw.Masquerade, config.Overlay.Masquerade)); // pods leave the cluster as the node unless told
        Assert.False(Parse("""{ "overlay": { "datastore": { "clusterCidr": "10.245.0.0/16" }, "masquerade": false } }""").Subnets!.Overlay!.Masquerade);
    }

    [Theory]
    [InlineData("""{ }""", "neither hostGw nor overlay")]
    [InlineData("""{ "hostGw": { "datastore": { "clusterCidr": "10.244.0.1/16" } } }""", "subnets.hostGw.datastore.clusterCidr")]
    [InlineData("""{ "hostGw": { "datastore": { "kind": "consul", "clusterCidr": "10.244.0.0/16" } } }""", "is not embedded or etcd")]
    [InlineData("""{ "overlay": { "datastore": { "kind": "etcd", "clusterCidr": "10.244.0.0/16" } } }""", "endpoints is empty")]
    [InlineData("""{ "overlay": { "datastore": { "clusterCidr": "10.244.0.0/16" }, "vni": 16777216 } }""", "subnets.overlay.vni")]
    [InlineData("""{ "hostGw": { "datastore": { "clusterCidr": "10.244.0.0/16" }, "redirect": "xdp" } }""", "subnets.hostGw.redirect 'xdp' is not kernel or bpf")]
    [InlineData("""{ "overlay": { "datastore": { "clusterCidr": "10.244.0.0/16" }, "redirect": "" } }""", "subnets.overlay.redirect")]
    [InlineData("""{ "nodeIp": "fe80::1", "hostGw": { "datastore": { "clusterCidr": "10.244.0.0/16" } } }""", "subnets.nodeIp")]
    [InlineData("""{ "hostGw": { "datastore": { "clusterCidr": "10.244.0.0/16" } }, "overlay": { "datastore": { "clusterCidr": "10.245.0.0/16" } } }""", "same datastore location")]
    public void A_wrong_field_is_refused_by_name(string subnets, string expected)
    {
        var e = Assert.Throws<AgentConfigException>(() => Parse(subnets));
        Assert.Contains(expected, e.Message);
    }
}
