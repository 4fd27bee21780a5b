using System.Net.NetworkInformation;

namespace Fathom.Netlink.Tests.Links;

/// <summary>The kernel's interface-name rule (net/core/dev.c dev_valid_name) and the MAC form, shared by every caller.</summary>
public sealed class InterfaceNamesTests
{
    [Theory]
    [InlineData("eth0")]
    [InlineData("abcdefghijklmno")]   // 15 bytes, IFNAMSIZ - 1
    [InlineData("vééééééé")]         // 15 bytes of UTF-8 in 8 characters: the kernel counts bytes
    [InlineData("a\u00a0b")]          // a no-break space is not isspace() to the kernel
    public void Names_the_kernel_accepts(string name) => Assert.True(InterfaceNames.IsValid(name));

    [Theory]
    [InlineData("")]
    [InlineData("abcdefghijklmnop")]  // 16 bytes
    [InlineData("véééééééé")]        // 17 bytes in 9 characters
    [InlineData(".")]
    [InlineData("..")]
    [InlineData("a/b")]
    [InlineData("eth0:1")]
    [InlineData("a b")]
    [InlineData("a\tb")]
    [InlineData("a\nb")]
    [InlineData("a\vb")]
    [InlineData("a\fb")]
    [InlineData("a\rb")]
    public void Names_the_kernel_refuses(string name) => Assert.False(InterfaceNames.IsValid(name));

    [Fact]
    public void MACs_are_written_lower_case_with_colons() =>
        Assert.Equal("02:ab:0c:01:23:ef", InterfaceNames.FormatMac(PhysicalAddress.Parse("02-AB-0C-01-23-EF")));
}
