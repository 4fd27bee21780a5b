using System.Collections;

namespace Fathom.Cni;

/// <summary>
/// The plugin's table of datapath modes (DESIGN.md §3: one network config selects one mode):
/// each name maps to a factory that parses the mode's own section of the config — error 7
/// naming the field when it is wrong — and returns the datapath. Which mode a config without
/// <c>mode</c> gets is the table's choice, not the core's. A new mode is one more line here.
/// </summary>
public sealed class CniModes(string defaultMode) : IEnumerable<string>
{
    private readonly Dictionary<string, Func<NetworkConfig, IDatapath>> _factories = new(StringComparer.Ordinal);

    /// <summary>The mode of a config that names none.</summary>
    public string DefaultMode { get; } = defaultMode;

    /// <summary>Registers (or replaces) mode <paramref name="name"/>.</summary>
    public Func<NetworkConfig, IDatapath> this[string name]
    {
        set => _factories[name] = value;
    }

    /// <summary>The mode <paramref name="config"/> selects: its <c>mode</c>, else <see cref="DefaultMode"/>.</summary>
    public string NameFor(NetworkConfig config) => config.Mode ?? DefaultMode;

    /// <summary>
    /// The datapath for <paramref name="config"/>: an unknown mode is error 7 listing the known
    /// ones; the factory's refusal of the mode's section is its own error 7.
    /// </summary>
    public IDatapath Create(NetworkConfig config)
    {
        var name = NameFor(config);
        if (!_factories.TryGetValue(name, out var factory))
            throw new CniException(CniErrorCode.InvalidNetworkConfig, $"unknown mode \"{name}\"",
                $"fathom knows [{string.Join(", ", this)}]");
        return factory(config);
    }

    /// <summary>The known modes' names, in ordinal order.</summary>
    public IEnumerator<string> GetEnumerator() => _factories.Keys.Order(StringComparer.Ordinal).GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
