using System.Text;
using Fathom.Agent.Hosting;
using Fathom.Agent.Protocol;
using Fathom.Agent.Sticky;

namespace Fathom.Agent.Tests.Sticky;

/// <summary><c>pools.sticky</c>: which pods are sticky, and the clear errors of a wrong section.</summary>
public sealed class StickyConfigTests
{
    private static AgentConfig Parse(string pools, string cloud = "{}") =>
        AgentConfig.Parse(Encoding.UTF8.GetBytes("{\"cloud\": " + cloud + ", \"pools\": {\"cluster\": \"c\", \"sticky\": " + pools + "}}"), "agent.json");

    [Fact]
    public void The_section_is_read_with_its_defaults()
    {
        var sticky = Parse("""{"namespaces": ["db"], "names": ["web-*"], "retentionSeconds": 60}""").Pools!.Sticky!;
        Assert.Equal(["db"], sticky.Namespaces);
        Assert.Equal(["web-*"], sticky.Names);
        Assert.Equal(TimeSpan.FromSeconds(60), sticky.Retention);
        Assert.Equal((20, 5), (sticky.HandoverTimeoutSeconds, sticky.CheckIntervalSeconds));
        Assert.Null(AgentConfig.Parse("""{"cloud": {}, "pools": {"cluster": "c"}}"""u8, "agent.json").Pools!.Sticky);
    }

    [Theory]
    [InlineData("db", "web-0", true)]
    [InlineData("db", "web-12", true)]
    [InlineData("db", "web", false)]
    [InlineData("db", "api-0", false)]
    [InlineData("default", "web-0", false)]
    public void Namespace_and_name_glob_must_both_match(string ns, string name, bool sticky) =>
        Assert.Equal(sticky, new StickyConfig { Namespaces = ["db"], Names = ["web-*"] }.Matches(new PodIdentity { Namespace = ns, Name = name }));

    [Fact]
    public void An_empty_list_matches_anything_and_an_unnamed_pod_is_never_sticky()
    {
        Assert.True(new StickyConfig { Namespaces = ["db"] }.Matches(new PodIdentity { Namespace = "db", Name = "anything" }));
        Assert.True(new StickyConfig { Names = ["kafka-?"] }.Matches(new PodIdentity { Namespace = "x", Name = "kafka-3" }));
        Assert.False(new StickyConfig { Names = ["kafka-?"] }.Matches(new PodIdentity { Namespace = "x", Name = "kafka-10" }));
        Assert.False(new StickyConfig { Namespaces = ["db"] }.Matches(null));
    }

    [Theory]
    [InlineData("*", "", true)]
    [InlineData("a*b*c", "aXXbYc", true)]
    [InlineData("a*b*c", "aXXbY", false)]
    [InlineData("*-0", "web-0", true)]
    [InlineData("w?b-*", "web-", true)]
    [InlineData("web", "web-0", false)]
    public void Globs_match_the_whole_name(string glob, string text, bool matches) => Assert.Equal(matches, StickyConfig.Glob(glob, text));

    [Theory]
    [InlineData("""{}""", "needs namespaces or names")]
    [InlineData("""{"namespaces": ["DB"]}""", "pools.sticky.namespaces has 'DB'")]
    [InlineData("""{"names": ["web/0"]}""", "pools.sticky.names has 'web/0'")]
    [InlineData("""{"names": ["web-*"], "retentionSeconds": 0}""", "pools.sticky.retentionSeconds 0 is outside")]
    [InlineData("""{"names": ["web-*"], "handoverTimeoutSeconds": 45}""", "pools.sticky.handoverTimeoutSeconds 45 is outside 0..30")]
    [InlineData("""{"names": ["web-*"], "retentionSecond": 5}""", "retentionSecond")]
    public void A_wrong_section_is_refused_naming_the_field(string sticky, string says)
    {
        var e = Assert.Throws<AgentConfigException>(() => Parse(sticky));
        Assert.Contains(says, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_host_provider_cannot_have_sticky_pods()
    {
        var e = Assert.Throws<AgentConfigException>(() => Parse("""{"names": ["web-*"]}""", """{"provider": "host", "host": {"names": ["eth1"]}}"""));
        Assert.Contains("pools.sticky needs a cloud that moves ENIs", e.Message, StringComparison.Ordinal);
    }
}
