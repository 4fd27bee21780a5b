namespace Fathom.Cni;

/// <summary>
/// What a runtime hands a plugin process: the environment, stdin, stdout and stderr (CNI spec
/// 1.1 §"Overview"). Tests build one in memory; the plugin takes its own process's.
/// </summary>
public sealed class CniInvocation
{
    /// <summary>The environment (CNI_* and everything else, passed on to delegated plugins).</summary>
    public required IReadOnlyDictionary<string, string> Environment { get; init; }

    /// <summary>The network config arrives here.</summary>
    public required Stream Stdin { get; init; }

    /// <summary>The result, VERSION answer or error JSON goes here.</summary>
    public required Stream Stdout { get; init; }

    /// <summary>Human text only (the "about" line when CNI_COMMAND is missing); never parsed by runtimes.</summary>
    public TextWriter Stderr { get; init; } = TextWriter.Null;

    /// <summary>Clock for the log file's times and durations.</summary>
    public TimeProvider Time { get; init; } = TimeProvider.System;

    /// <summary>The current process's environment and standard streams.</summary>
    public static CniInvocation FromProcess()
    {
        return new CniInvocation
        {
            Environment = new ProcessEnvironment(),
            Stdin = new StandardStream(0, writable: false),
            Stdout = new StandardStream(1, writable: true),
            Stderr = new StreamWriter(new StandardStream(2, writable: true)) { AutoFlush = true },
        };
    }

    /// <summary>A variable's value, or null when unset.</summary>
    public string? Get(string name) => Environment.TryGetValue(name, out var v) ? v : null;
}
