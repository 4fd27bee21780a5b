namespace Fathom.Netlink.Tests;

/// <summary>What an operator reads in a <see cref="NetlinkException"/>'s message.</summary>
public sealed class NetlinkExceptionTests
{
    [Fact]
    public void A_known_errno_is_named_with_its_number_and_the_kernels_text()
    {
        var e = new NetlinkException(Errno.EEXIST, "create veth a (peer b)", "Interface exists");

        Assert.Equal("create veth a (peer b): EEXIST (17): Interface exists", e.Message);
        Assert.Equal(Errno.EEXIST, e.Error);
        Assert.True(e.IsAlreadyExists);
    }

    [Fact]
    public void Any_other_errno_is_explained_by_the_C_librarys_text()
    {
        // EPFNOSUPPORT (96) is not in the Errno enum: the message says what it means, not "errno (96)".
        var e = new NetlinkException(96, "create vxlan v0");

        Assert.Equal("create vxlan v0: Protocol family not supported (96)", e.Message);
        Assert.Equal(96, e.Errno);
    }
}
