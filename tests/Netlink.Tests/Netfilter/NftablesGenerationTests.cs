namespace Fathom.Netlink.Tests.Netfilter;

/// <summary>The nftables ruleset's generation against the real kernel, changed by <c>nft</c>.</summary>
public sealed class NftablesGenerationTests
{
    [PrivilegedFact("ip", "nft")]
    public void The_generation_moves_with_every_committed_change_and_only_then()
    {
        Privileged.Require("ip", "nft");
        using var ns = KernelNetns.Create();
        void Nft(params string[] args) => Shell.Run("ip", ["netns", "exec", ns.Name, "nft", .. args]).EnsureSuccess("nft " + string.Join(' ', args));

        var first = NftablesGeneration.Read(ns.Handle);
        Assert.Equal(first, NftablesGeneration.Read(ns.Handle));

        Nft("add", "table", "ip", "ftest_gen");
        var afterAdd = NftablesGeneration.Read(ns.Handle);
        Assert.NotEqual(first, afterAdd);
        Nft("list", "ruleset"); // reading changes nothing
        Assert.Equal(afterAdd, NftablesGeneration.Read(ns.Handle));

        Nft("delete", "table", "ip", "ftest_gen");
        Assert.NotEqual(afterAdd, NftablesGeneration.Read(ns.Handle));
    }

    [PrivilegedFact("ip", "nft")]
    public void Each_namespace_has_its_own()
    {
        Privileged.Require("ip", "nft");
        using var a = KernelNetns.Create();
        using var b = KernelNetns.Create();
        var before = NftablesGeneration.Read(b.Handle);
        Shell.Run("ip", ["netns", "exec", a.Name, "nft", "add", "table", "ip", "ftest_gen"]).EnsureSuccess("nft add table");
        Assert.Equal(before, NftablesGeneration.Read(b.Handle));
    }
}
