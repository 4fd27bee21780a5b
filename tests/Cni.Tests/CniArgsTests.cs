namespace Fathom.Cni.Tests;

public sealed class CniArgsTests
{
    [Theory]
    [InlineData(null)]
    [InlineData("")]
    public void Absent_args_are_empty(string? raw) => Assert.Same(CniArgs.Empty, CniArgs.Parse(raw));

    [Fact]
    public void Reads_the_kubernetes_keys()
    {
        var args = CniArgs.Parse("K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-0;K8S_POD_INFRA_CONTAINER_ID=abc123;K8S_POD_UID=9f1c-77");
        Assert.Equal("default", args.K8sPodNamespace);
        Assert.Equal("web-0", args.K8sPodName);
        Assert.Equal("abc123", args.K8sPodInfraContainerId);
        Assert.Equal("9f1c-77", args.K8sPodUid);
        Assert.False(args.IgnoreUnknown);
        Assert.Empty(args.Extra);
    }

    [Fact]
    public void FATHOM_MODE_is_a_known_key_carried_not_judged()
    {
        // The core carries the pod's ask; which modes a network allows is the mode table's business.
        Assert.Equal("shared", CniArgs.Parse("FATHOM_MODE=shared").FathomMode);
        Assert.Equal("anything", CniArgs.Parse("FATHOM_MODE=anything").FathomMode);
        Assert.Null(CniArgs.Parse("K8S_POD_NAME=web-0").FathomMode);
    }

    [Theory]
    [InlineData("IgnoreUnknown=1;FOO=bar")]
    [InlineData("FOO=bar;IgnoreUnknown=true")] // order does not matter
    [InlineData("IgnoreUnknown=TRUE;FOO=bar;")]
    public void IgnoreUnknown_keeps_unknown_keys_aside(string raw)
    {
        var args = CniArgs.Parse(raw);
        Assert.True(args.IgnoreUnknown);
        Assert.Equal("bar", args.Extra["FOO"]);
    }

    [Fact]
    public void A_value_may_contain_equals_signs() =>
        Assert.Equal("a=b", CniArgs.Parse("IgnoreUnknown=1;X=a=b").Extra["X"]);

    [Fact]
    public void An_empty_value_is_allowed() =>
        Assert.Equal("", CniArgs.Parse("K8S_POD_NAME=").K8sPodName);

    [Theory]
    [InlineData("FOO=bar", "FOO")]                     // unknown without IgnoreUnknown
    [InlineData("IgnoreUnknown=0;FOO=bar", "FOO")]
    [InlineData("IgnoreUnknown=false;A=1;B=2", "A, B")]
    [InlineData("FOO", "FOO")]                         // not a pair
    [InlineData("=bar", "=bar")]                       // no key
    [InlineData("IgnoreUnknown=maybe", "maybe")]       // not a boolean
    public void Malformed_or_unknown_args_are_error_4_naming_the_culprit(string raw, string named)
    {
        var e = Assert.Throws<CniException>(() => CniArgs.Parse(raw));
        Assert.Equal(CniErrorCode.InvalidEnvironment, e.Code);
        Assert.Contains(named, e.Message);
        Assert.StartsWith("CNI_ARGS", e.Message);
    }
}
