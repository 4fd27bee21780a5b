using Fathom.Lab.Cri;

namespace Fathom.Lab.Tests.Cri;

/// <summary>The lab's containerd config: what makes containerd 1.6 run here (issue 11 §1), without starting it.</summary>
public sealed class ContainerdConfigTests
{
    private static readonly ContainerdPaths Paths = new("/run/fathom-lab/t/node1/containerd");

    [Fact]
    public void EverythingIsUnderTheScratchDirectoryWithTheSettingsThisMachineNeeds()
    {
        var toml = ContainerdConfig.Render(Paths, ["shared", "underlay"]);
        Assert.Contains("version = 2", toml);
        Assert.Contains($"root = \"{Paths.Root}\"", toml);
        Assert.Contains($"state = \"{Paths.State}\"", toml);
        Assert.Contains($"address = \"{Paths.Socket}\"", toml);
        Assert.Contains("restrict_oom_score_adj = true", toml);
        Assert.Contains("snapshotter = \"overlayfs\"", toml);
        Assert.Contains("SystemdCgroup = false", toml);
        Assert.Contains($"sandbox_image = \"{PauseImage.Reference}\"", toml);
        Assert.Contains($"bin_dir = \"{Paths.CniBin}\"", toml);
        Assert.All(toml.Split('\n').Where(l => l.Contains("= \"/", StringComparison.Ordinal)),
            l => Assert.Contains(Paths.Directory, l));
    }

    [Fact]
    public void EachModeIsARuntimeHandlerWithItsConflistAndTheDefaultIsTheFirst()
    {
        var toml = ContainerdConfig.Render(Paths, ["shared", "underlay"]);
        foreach (var handler in new[] { "runc", "shared", "underlay" })
            Assert.Contains($"[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.{handler}]", toml);
        Assert.Contains($"cni_conf_dir = \"{Paths.CniConf("underlay")}\"", toml);
        Assert.Contains($"conf_dir = \"{Paths.CniConf("shared")}\"", toml);
        Assert.Throws<ArgumentException>(() => ContainerdConfig.Render(Paths, []));
    }

    [Fact]
    public void ACgroupParentMustBeAnAbsolutePathOfItsOwn()
    {
        foreach (var bad in new[] { "", "/", "relative", "/a/../b" })
            Assert.Throws<ArgumentException>(() => new ContainerdNode(Paths, "t-node1", bad));
        Assert.Equal("/t-node1", new ContainerdNode(Paths, "t-node1", "/t-node1").CgroupParent);
    }

    [PrivilegedFact(PauseImage.Busybox)]
    public void ThePauseImageIsAnOciLayoutWhoseIndexNamesTheImage()
    {
        Privileged.Require(PauseImage.Busybox);
        var dir = Directory.CreateTempSubdirectory("fe-pause-");
        try
        {
            var tar = Path.Combine(dir.FullName, "pause.tar");
            PauseImage.Write(tar);
            System.Formats.Tar.TarFile.ExtractToDirectory(tar, dir.FullName, overwriteFiles: false);
            Assert.Contains("imageLayoutVersion", File.ReadAllText(Path.Combine(dir.FullName, "oci-layout")));
            var index = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(dir.FullName, "index.json")))!;
            var manifest = index["manifests"]![0]!;
            Assert.Equal(PauseImage.Reference, (string?)manifest["annotations"]!["io.containerd.image.name"]);
            var digest = ((string)manifest["digest"]!)["sha256:".Length..];
            Assert.True(File.Exists(Path.Combine(dir.FullName, "blobs", "sha256", digest)));
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }
}
