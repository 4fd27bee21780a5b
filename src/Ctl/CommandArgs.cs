using System.Globalization;

namespace Fathom.Ctl;

/// <summary>Minimal "--name value" / "--flag" parsing for every fathomctl command; unknown arguments are usage errors.</summary>
internal sealed class CommandArgs(string[] args)
{
    private readonly List<string> _rest = [.. args];

    public IReadOnlyList<string> Positional
    {
        get
        {
            var positional = _rest.TakeWhile(a => !a.StartsWith("--", StringComparison.Ordinal)).ToList();
            _rest.RemoveRange(0, positional.Count);
            return positional;
        }
    }

    public string? Value(string name)
    {
        var i = _rest.IndexOf(name);
        if (i < 0) return null;
        if (i + 1 >= _rest.Count) throw new UsageException($"{name} needs a value");
        var value = _rest[i + 1];
        _rest.RemoveRange(i, 2);
        return value;
    }

    /// <summary>Every value of a repeatable option (--ip A --ip B).</summary>
    public IReadOnlyList<string> Values(string name)
    {
        var values = new List<string>();
        while (Value(name) is { } v) values.Add(v);
        return values;
    }

    public bool Flag(string name) => _rest.Remove(name);

    public int Int(string name, int fallback) =>
        Value(name) is { } v ? int.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) ? n : throw new UsageException($"{name}: '{v}' is not an integer") : fallback;

    /// <summary>A count such as --cycles: a whole number of at least 1.</summary>
    public int PositiveInt(string name, int fallback) =>
        Value(name) is { } v ? int.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n >= 1 ? n : throw new UsageException($"{name} wants a positive number, not '{v}'") : fallback;

    public double Double(string name, double fallback) =>
        Value(name) is { } v ? double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) ? d : throw new UsageException($"{name}: '{v}' is not a number") : fallback;

    public void EnsureConsumed()
    {
        if (_rest.Count > 0) throw new UsageException($"unexpected argument '{_rest[0]}'");
    }
}
