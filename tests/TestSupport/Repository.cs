namespace Fathom.Testing;

/// <summary>Where the checkout is, for tests that run its scripts and published binaries.</summary>
public static class Repository
{
    /// <summary>The folder holding Fathom.slnx, found by walking up from the test assembly.</summary>
    public static string Root { get; } = Find();

    /// <summary>artifacts/bin, where ./build.sh publishes fathom, fathomctl and fathom-agent.</summary>
    public static string Bin => Path.Combine(Root, "artifacts", "bin");

    /// <summary>
    /// The AOT <c>fathom</c> under test: FATHOM_PLUGIN (a copy published elsewhere), else
    /// artifacts/bin/fathom, which ./build.sh makes before ./test.sh runs the tests.
    /// </summary>
    public static string Plugin =>
        Environment.GetEnvironmentVariable("FATHOM_PLUGIN") is { Length: > 0 } published ? published : Path.Combine(Bin, "fathom");

    /// <summary>
    /// The AOT <c>fathom-agent</c> under test: FATHOM_AGENT, else artifacts/bin/fathom-agent when
    /// ./build.sh made it, else null. Tests that start agents use it rather than the fathom-agent.dll
    /// a project reference copies beside them: that copy lacks Microsoft.Extensions.Logging.Abstractions
    /// (a project with the ASP.NET Core framework, as the lab's, resolves it from there, which the
    /// agent's runtimeconfig does not name), and the host-gw and overlay datastores load it.
    /// </summary>
    public static string? Agent =>
        Environment.GetEnvironmentVariable("FATHOM_AGENT") is { Length: > 0 } given ? given
        : Path.Combine(Bin, "fathom-agent") is var published && File.Exists(published) ? published : null;

    private static string Find()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Fathom.slnx"))) return dir.FullName;
        // Built outside the checkout (--artifacts-path): the build recorded where the sources were.
        var recorded = typeof(Repository).Assembly.GetCustomAttributes(typeof(System.Reflection.AssemblyMetadataAttribute), false)
            .OfType<System.Reflection.AssemblyMetadataAttribute>()
            .FirstOrDefault(a => a.Key == "FathomRepositoryRoot")?.Value;
        if (recorded is not null && File.Exists(Path.Combine(recorded, "Fathom.slnx"))) return recorded;
        throw new InvalidOperationException($"no Fathom.slnx above {AppContext.BaseDirectory} nor at {recorded ?? "(no recorded root)"}");
    }
}
