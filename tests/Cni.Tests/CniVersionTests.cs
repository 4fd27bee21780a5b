namespace Fathom.Cni.Tests;

public sealed class CniVersionTests
{
    [Theory]
    [InlineData("0.3.0", true)]
    [InlineData("0.3.1", true)]
    [InlineData("0.4.0", true)]
    [InlineData("1.0.0", true)]
    [InlineData("1.1.0", true)]
    [InlineData("0.1.0", false)]
    [InlineData("0.2.0", false)]
    [InlineData("1.2.0", false)]
    [InlineData("1.0", false)]
    [InlineData("v1.0.0", false)]
    public void Supports_exactly_the_five_versions(string version, bool supported) =>
        Assert.Equal(supported, CniVersion.IsSupported(version));

    [Theory]
    [InlineData("0.3.1", "0.4.0", -1)]
    [InlineData("1.0.0", "0.4.0", 1)]
    [InlineData("1.10.0", "1.9.0", 1)]
    [InlineData("1.1.0", "1.1.0", 0)]
    [InlineData("garbage", "0.1.0", -1)]
    public void Compares_numerically(string a, string b, int sign) =>
        Assert.Equal(sign, Math.Sign(CniVersion.Compare(a, b)));

    [Fact]
    public void Negotiation_picks_the_highest_shared_version()
    {
        // CNI spec 1.1 §"Version selection": highest version in cniVersions the runtime/plugin understands.
        Assert.Equal("1.1.0", CniVersion.Negotiate(["0.4.0", "1.1.0", "1.0.0"]));
        Assert.Equal("1.0.0", CniVersion.Negotiate(["0.4.0", "1.0.0", "2.0.0"]));
        Assert.Equal("1.0.0", CniVersion.Negotiate(["1.1.0", "1.0.0", "0.4.0"], understood: ["0.3.1", "0.4.0", "1.0.0"]));
        Assert.Null(CniVersion.Negotiate(["0.2.0", "2.0.0"]));
        Assert.Null(CniVersion.Negotiate([]));
    }

    [Fact]
    public void Select_prefers_cniVersion_then_negotiates_cniVersions()
    {
        Assert.Equal("0.4.0", CniVersion.Select("0.4.0", ["1.1.0"]));
        Assert.Equal("1.1.0", CniVersion.Select(null, ["1.0.0", "1.1.0"]));
        Assert.Equal("1.0.0", CniVersion.Select("", ["1.0.0", "9.9.9"]));
    }

    [Theory]
    [InlineData("0.2.0")]
    [InlineData("2.0.0")]
    [InlineData("1.0")]
    public void Select_refuses_an_unknown_version_with_code_1(string version)
    {
        var e = Assert.Throws<CniException>(() => CniVersion.Select(version, null));
        Assert.Equal(CniErrorCode.IncompatibleVersion, e.Code);
        Assert.Contains(version, e.Details);
    }

    [Fact]
    public void Select_without_any_version_is_0_1_0_and_refused()
    {
        var e = Assert.Throws<CniException>(() => CniVersion.Select(null, null));
        Assert.Equal(CniErrorCode.IncompatibleVersion, e.Code);
        Assert.Contains("0.1.0", e.Details);
        Assert.Equal(CniErrorCode.IncompatibleVersion, Assert.Throws<CniException>(() => CniVersion.Select(null, ["0.2.0"])).Code);
    }

    [Theory]
    [InlineData("0.3.0", CniCommand.Check, false)]
    [InlineData("0.3.1", CniCommand.Check, false)]
    [InlineData("0.4.0", CniCommand.Check, true)]
    [InlineData("1.0.0", CniCommand.Status, false)]
    [InlineData("1.0.0", CniCommand.Gc, false)]
    [InlineData("1.1.0", CniCommand.Status, true)]
    [InlineData("1.1.0", CniCommand.Gc, true)]
    [InlineData("0.3.0", CniCommand.Add, true)]
    [InlineData("0.3.0", CniCommand.Del, true)]
    public void Commands_exist_from_their_spec_version(string version, CniCommand command, bool allowed)
    {
        if (allowed)
        {
            CniVersion.RequireCommand(version, command);
        }
        else
        {
            var e = Assert.Throws<CniException>(() => CniVersion.RequireCommand(version, command));
            Assert.Equal(CniErrorCode.IncompatibleVersion, e.Code);
            Assert.Contains(CniCommands.Name(command), e.Message);
        }
    }
}
