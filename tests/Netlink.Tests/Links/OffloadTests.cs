namespace Fathom.Netlink.Tests.Links;

/// <summary>GRO through the ethtool ioctl on the handle's own socket, checked with ethtool itself.</summary>
public sealed class OffloadTests
{
    [PrivilegedFact("ip", "ethtool")]
    public void SetGro_turns_generic_receive_offload_on_and_off_in_the_handles_namespace()
    {
        Privileged.Require("ip", "ethtool");
        using var ns = KernelNetns.Create();
        ns.Netlink.CreateVeth("va", "vb");

        ns.Netlink.SetGro("va", true);
        Assert.True(ns.Netlink.GetGro("va"));
        Assert.Contains("generic-receive-offload: on", Shell.Exec(ns.Name, "ethtool", "-k", "va").Stdout);
        Assert.False(ns.Netlink.GetGro("vb")); // the peer keeps its own setting

        ns.Netlink.SetGro("va", false);
        Assert.False(ns.Netlink.GetGro("va"));
        Assert.Contains("generic-receive-offload: off", Shell.Exec(ns.Name, "ethtool", "-k", "va").Stdout);
    }

    [PrivilegedFact("ip")]
    public void A_missing_device_is_ENODEV_and_a_bad_name_EINVAL()
    {
        Privileged.Require("ip");
        using var ns = KernelNetns.Create();
        Assert.Equal(Errno.ENODEV, Assert.Throws<NetlinkException>(() => ns.Netlink.SetGro("nope0", true)).Error);
        Assert.Equal(Errno.EINVAL, Assert.Throws<NetlinkException>(() => ns.Netlink.GetGro("a/b")).Error);
    }
}
