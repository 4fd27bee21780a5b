using System.Collections;
using System.Diagnostics.CodeAnalysis;

namespace Fathom.Cni;

/// <summary>
/// The plugin process's own environment as <see cref="CniInvocation.Environment"/>: a variable
/// looked up by name is read where it is (System.Environment.GetEnvironmentVariable, getenv(3) on
/// Linux), and the whole environment is copied only once something enumerates it — a delegated
/// IPAM plugin, which is handed all of it. An ADD through the agent asks for its handful of CNI_*
/// variables and never copies the runtime's forty others (0.107 → 0.012 ms of every invocation,
/// docs/benchmarks.md). The environment of a process does not change under it: no variable is set
/// by the plugin.
/// </summary>
internal sealed class ProcessEnvironment : IReadOnlyDictionary<string, string>
{
    private Dictionary<string, string>? _all;

    private Dictionary<string, string> All => _all ??= Copy();

    public string this[string key] =>
        TryGetValue(key, out var value) ? value : throw new KeyNotFoundException($"environment variable {key} is not set");

    public IEnumerable<string> Keys => All.Keys;

    public IEnumerable<string> Values => All.Values;

    public int Count => All.Count;

    public bool ContainsKey(string key) => TryGetValue(key, out _);

    public bool TryGetValue(string key, [MaybeNullWhen(false)] out string value)
    {
        ArgumentNullException.ThrowIfNull(key);
        if (_all is not null) return _all.TryGetValue(key, out value);
        value = System.Environment.GetEnvironmentVariable(key);
        return value is not null;
    }

    public IEnumerator<KeyValuePair<string, string>> GetEnumerator() => All.GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    private static Dictionary<string, string> Copy()
    {
        var env = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (DictionaryEntry e in System.Environment.GetEnvironmentVariables())
            if (e.Key is string k && e.Value is string v) env[k] = v;
        return env;
    }
}
