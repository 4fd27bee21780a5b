using System.Runtime.InteropServices;
using System.Security.Cryptography;
using Fathom.Netlink;

namespace Fathom.Ctl;

/// <summary>
/// The namespaces (and scratch folders) a benchmark makes for itself (<c>fathom-bench-{hex}-…</c>, or another
/// prefix where the command offers one, so the root
/// namespace is never touched) and Ctrl-C handling: an interrupt (SIGINT, or SIGTERM as `kill`
/// and `timeout` send) finishes the cycle in progress and the namespaces are deleted on dispose
/// rather than left behind by a dying process.
/// </summary>
internal sealed class BenchScratch : IDisposable
{
    /// <summary>The prefix of every name a benchmark makes unless told otherwise.</summary>
    public const string DefaultPrefix = "fathom-bench-";

    private readonly string _prefix;

    private readonly List<string> _created = [];
    private readonly List<string> _directories = [];
    private readonly CancellationTokenSource _cancelled = new();
    private readonly ConsoleCancelEventHandler _onCancel;
    private readonly PosixSignalRegistration _onTerminate;

    /// <param name="prefix">What every namespace and scratch folder of this run is named with: letters, digits, '.', '_', '-'.</param>
    public BenchScratch(string prefix = DefaultPrefix)
    {
        if (PrefixError(prefix) is { } error) throw new ArgumentException(error, nameof(prefix));
        _prefix = prefix;
        Suffix = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4));
        _onCancel = (_, e) =>
        {
            e.Cancel = true;
            _cancelled.Cancel();
        };
        Console.CancelKeyPress += _onCancel;
        // Without this, SIGTERM ends the process at once and leaves the namespaces behind.
        _onTerminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context =>
        {
            context.Cancel = true;
            _cancelled.Cancel();
        });
    }

    /// <summary>Why <paramref name="prefix"/> cannot name namespaces (a file in /run/netns each), or null when it can.</summary>
    public static string? PrefixError(string prefix) =>
        prefix.Length is 0 or > 40 || !prefix.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-')
            ? $"namespace prefix \"{prefix}\": 1–40 letters, digits, '.', '_' or '-'"
            : null;

    /// <summary>Random per run, so two runs (or a leftover) never collide.</summary>
    public string Suffix { get; }

    /// <summary>True once the operator pressed Ctrl-C (or the process got SIGTERM).</summary>
    public bool Interrupted => _cancelled.IsCancellationRequested;

    /// <summary>
    /// Whether a failure just seen is the operator's Ctrl-C: the terminal sends SIGINT to the
    /// whole foreground process group, so a child (ip, a plugin) may die of it a moment before
    /// this process's handler has run. Waits up to half a second for that handler.
    /// </summary>
    public bool InterruptedJustNow() => _cancelled.Token.WaitHandle.WaitOne(TimeSpan.FromMilliseconds(500));

    /// <summary>The name <c>{prefix}{suffix}{role}</c> (<c>fathom-bench-…</c> by default) for a namespace of this run.</summary>
    public string NameFor(string role) => _prefix + Suffix + role;

    /// <summary>Creates a namespace of this run, deleted on dispose.</summary>
    public NetnsHandle CreateNetns(string role)
    {
        var name = NameFor(role);
        var handle = Netns.Create(name);
        _created.Add(name);
        return handle;
    }

    /// <summary>Creates a scratch folder of this run under the temp directory, deleted on dispose.</summary>
    public string CreateDirectory(string role)
    {
        var path = Path.Combine(Path.GetTempPath(), NameFor(role));
        Directory.CreateDirectory(path);
        _directories.Add(path);
        return path;
    }

    public void Dispose()
    {
        Console.CancelKeyPress -= _onCancel;
        _onTerminate.Dispose();
        foreach (var name in _created) Netns.TryDelete(name);
        foreach (var path in _directories)
            if (Directory.Exists(path)) Directory.Delete(path, recursive: true);
        _cancelled.Dispose();
    }

    /// <summary>Nearest-rank percentile (p in 0..1) of the samples; NaN when there are none.</summary>
    public static double Percentile(IEnumerable<double> samples, double p)
    {
        var sorted = samples.Order().ToArray();
        if (sorted.Length == 0) return double.NaN;
        var rank = (int)Math.Ceiling(p * sorted.Length);
        return sorted[Math.Clamp(rank - 1, 0, sorted.Length - 1)];
    }
}
