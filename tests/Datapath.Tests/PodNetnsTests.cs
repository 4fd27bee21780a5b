using Fathom.Cni;

namespace Fathom.Datapath.Tests;

public sealed class PodNetnsTests
{
    [Theory]
    [InlineData("/var/run/netns/ftest-nonesuch")]
    [InlineData("/proc/1/nonesuch")]
    public void A_namespace_that_cannot_be_opened_is_error_102_naming_the_path(string path)
    {
        var e = Assert.Throws<CniException>(() => PodNetns.Open(path));
        Assert.Equal(DatapathErrorCodes.NetnsNotFound, e.Code);
        Assert.Equal(102, (int)e.Code);
        Assert.Contains(path, e.Message);
    }
}
