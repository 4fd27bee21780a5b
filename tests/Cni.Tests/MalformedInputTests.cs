namespace Fathom.Cni.Tests;

public sealed class MalformedInputTests
{
    [Theory]
    [MemberData(nameof(MalformedInput.CoreCases), MemberType = typeof(MalformedInput))]
    public void Fails_with_its_exact_code(string name, string version)
    {
        var input = MalformedInput.Named(name);
        var datapath = new TestDatapath();
        var output = InProcess.Run(datapath, input.Environment(), input.Config(version));
        Assert.Equal(input.Code, output.ErrorCode);
        Assert.False(string.IsNullOrWhiteSpace((string?)output.Json["msg"]));
        Assert.Empty(datapath.Calls); // nothing reached the datapath
    }
}
