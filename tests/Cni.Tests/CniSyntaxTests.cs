namespace Fathom.Cni.Tests;

public sealed class CniSyntaxTests
{
    [Theory]
    [InlineData("a")]
    [InlineData("0123456789abcdef")]
    [InlineData("ctr_1.2-x")]
    [InlineData("K8S-pod.uid_9")]
    public void Valid_container_ids(string id) => CniSyntax.ValidateContainerId(id);

    [Theory]
    [InlineData("")]
    [InlineData("-abc")]
    [InlineData("_abc")]
    [InlineData(".abc")]
    [InlineData("a b")]
    [InlineData("a/b")]
    [InlineData("a:b")]
    [InlineData("é")]
    public void Invalid_container_ids_are_error_4(string id)
    {
        var e = Assert.Throws<CniException>(() => CniSyntax.ValidateContainerId(id));
        Assert.Equal(CniErrorCode.InvalidEnvironment, e.Code);
        Assert.Contains("CNI_CONTAINERID", e.Message);
    }

    [Theory]
    [InlineData("eth0")]
    [InlineData("net1")]
    [InlineData("a")]
    [InlineData("abcdefghijklmno")]      // 15 bytes, the maximum
    [InlineData("eth-0.100@x")]
    [InlineData("ĳĳĳĳĳĳĳ")]              // 14 bytes of UTF-8
    public void Valid_interface_names(string name) => CniSyntax.ValidateInterfaceName(name);

    [Theory]
    [InlineData("", "empty")]
    [InlineData("abcdefghijklmnop", "too long")]   // 16 bytes
    [InlineData("ĳĳĳĳĳĳĳĳ", "too long")]            // 8 characters but 16 bytes: the kernel counts bytes
    [InlineData(".", ". or ..")]
    [InlineData("..", ". or ..")]
    [InlineData("eth/0", "/")]
    [InlineData("eth:0", ":")]
    [InlineData("eth 0", "whitespace")]
    [InlineData("eth\t0", "whitespace")]
    [InlineData("eth0\n", "whitespace")]
    [InlineData("eth\u00a00", "whitespace")]
    public void Invalid_interface_names_are_error_4(string name, string why)
    {
        var e = Assert.Throws<CniException>(() => CniSyntax.ValidateInterfaceName(name));
        Assert.Equal(CniErrorCode.InvalidEnvironment, e.Code);
        Assert.Contains("CNI_IFNAME", e.Message);
        Assert.Contains(why, e.Message + e.Details);
    }

    [Theory]
    [InlineData("mynet", true)]
    [InlineData("my-net_1.2", true)]
    [InlineData("my net", false)]
    [InlineData("-net", false)]
    [InlineData("net/1", false)]
    public void Network_names(string name, bool valid) => Assert.Equal(valid, CniSyntax.IsValidName(name));
}
