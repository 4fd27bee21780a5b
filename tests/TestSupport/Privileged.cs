namespace Fathom.Testing;

/// <summary>
/// Decides whether a test that needs root (or a system tool) can run here.
/// Outside CI such a test is skipped with the reason; under <c>CI=true</c> it runs and fails,
/// because a skip there would hide a missing install step (the repository's contract).
/// </summary>
public static class Privileged
{
    public static bool IsRoot => geteuid() == 0;

    public static bool IsCi => string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

    /// <summary>The reason a privileged test cannot run, or null when it can.</summary>
    public static string? MissingPrerequisite(params string[] tools)
    {
        if (!IsRoot) return "needs root (run ./test.sh with sudo)";
        foreach (var tool in tools)
            if (FindTool(tool) is null) return $"needs '{tool}' on PATH (./test.sh installs it)";
        return null;
    }

    /// <summary>Full path of an executable on PATH (or an absolute path that exists), else null.</summary>
    public static string? FindTool(string tool)
    {
        if (tool.StartsWith('/')) return File.Exists(tool) ? tool : null;
        var path = Environment.GetEnvironmentVariable("PATH") ?? "/usr/sbin:/usr/bin:/sbin:/bin";
        foreach (var dir in path.Split(':', StringSplitOptions.RemoveEmptyEntries).Concat(["/usr/sbin", "/sbin"]))
        {
            var candidate = Path.Combine(dir, tool);
            if (File.Exists(candidate)) return candidate;
        }
        return null;
    }

    /// <summary>Skip reason for the attribute: null when the test should run (including under CI, where it then fails).</summary>
    internal static string? SkipReason(string[] tools)
    {
        var missing = MissingPrerequisite(tools);
        return missing is null || IsCi ? null : missing;
    }

    /// <summary>Call first in a privileged test: throws (a failure) when a prerequisite is missing.</summary>
    public static void Require(params string[] tools)
    {
        var missing = MissingPrerequisite(tools);
        if (missing is not null)
            throw new InvalidOperationException($"privileged test cannot run: {missing} (CI=true turns a skip into this failure)");
    }

    [System.Runtime.InteropServices.DllImport("libc")]
    private static extern uint geteuid();
}

/// <summary>A fact that needs root and, optionally, tools on PATH. See <see cref="Privileged"/>.</summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class PrivilegedFactAttribute : FactAttribute
{
    public PrivilegedFactAttribute(params string[] tools)
    {
        Skip = Privileged.SkipReason(tools);
    }
}

/// <summary>A theory that needs root and, optionally, tools on PATH. See <see cref="Privileged"/>.</summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class PrivilegedTheoryAttribute : TheoryAttribute
{
    public PrivilegedTheoryAttribute(params string[] tools)
    {
        Skip = Privileged.SkipReason(tools);
    }
}
