namespace Fathom.Plugin.Tests.Harness;

/// <summary>
/// Where the plugins under test live: the AOT <c>fathom</c> (<see cref="Repository.Plugin"/>)
/// and Debian's reference plugins (package containernetworking-plugins).
/// </summary>
internal static class CniPlugins
{
    /// <summary>Debian's reference plugins (host-device, static, tuning, portmap, bandwidth...).</summary>
    public const string ReferenceDir = "/usr/lib/cni";

    public static string ReferenceHostDevice => Path.Combine(ReferenceDir, "host-device");

    /// <summary>The fathom binary to test; fails loudly (never skips) when it is missing.</summary>
    public static string Fathom
    {
        get
        {
            var path = Repository.Plugin;
            return File.Exists(path)
                ? path
                : throw new InvalidOperationException($"fathom plugin not found at {path}: run ./build.sh, or publish your own copy and set FATHOM_PLUGIN");
        }
    }
}

/// <summary>
/// A CNI_PATH directory as a runtime would have it: <c>fathom</c> next to the reference plugins
/// (symlinks), so chains and delegated IPAM find every type by name. Removed on dispose.
/// </summary>
internal sealed class CniBinDir : IDisposable
{
    public string Path { get; }

    public CniBinDir()
    {
        Path = Directory.CreateTempSubdirectory("fathom-ul-cnibin-").FullName;
        foreach (var plugin in Directory.EnumerateFiles(CniPlugins.ReferenceDir))
            File.CreateSymbolicLink(System.IO.Path.Combine(Path, System.IO.Path.GetFileName(plugin)), plugin);
        File.CreateSymbolicLink(System.IO.Path.Combine(Path, "fathom"), CniPlugins.Fathom);
    }

    public void Dispose() => Directory.Delete(Path, recursive: true);
}
