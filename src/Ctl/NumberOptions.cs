using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;

namespace Fathom.Ctl;

/// <summary>
/// Numeric options parsed the way fathomctl always has: invariant culture, and an error that
/// names the option and the text ("--cycles wants a positive number, not 'x'") rather than
/// System.CommandLine's "Cannot parse argument ... as expected type 'System.Int32'".
/// </summary>
internal static class NumberOptions
{
    /// <summary>Any integer (range checks, if any, are the command's).</summary>
    public static Option<int> Integer(string name, string description, int fallback) =>
        Create(name, description, "N", fallback,
            text => int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) ? n : null,
            text => $"{name}: '{text}' is not an integer");

    /// <summary>A count such as --cycles: a whole number of at least 1.</summary>
    public static Option<int> Count(string name, string description, int fallback) =>
        Create(name, description, "N", fallback,
            text => int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n >= 1 ? n : null,
            text => $"{name} wants a positive number, not '{text}'");

    /// <summary>An MTU, from IPv4's 576 up to a jumbo frame's 9216 bytes.</summary>
    public static Option<int> Mtu(string name, string description, int fallback) =>
        Create(name, description, "BYTES", fallback,
            text => int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n is >= 576 and <= 9216 ? n : null,
            text => $"{name} wants an MTU from 576 to 9216 bytes, not '{text}'");

    /// <summary>Milliseconds, 0 or more.</summary>
    public static Option<int> Milliseconds(string name, string description) =>
        Create(name, description, "MS", 0,
            text => int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : null,
            text => $"{name} wants milliseconds (a whole number, 0 or more), not '{text}'");

    /// <summary>A fraction from 0 to 1, such as a fault rate.</summary>
    public static Option<double> Rate(string name, string description) =>
        Create(name, description, "RATE", 0.0,
            text => double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) && d is >= 0 and <= 1 ? d : null,
            text => $"{name} wants a rate from 0 to 1, not '{text}'");

    private static Option<T> Create<T>(string name, string description, string helpName, T fallback, Func<string, T?> parse, Func<string, string> error)
        where T : struct =>
        new(name)
        {
            Description = description,
            HelpName = helpName,
            DefaultValueFactory = _ => fallback,
            CustomParser = result => Parse(result, fallback, parse, error),
        };

    private static T Parse<T>(ArgumentResult result, T fallback, Func<string, T?> parse, Func<string, string> error) where T : struct
    {
        if (result.Tokens.Count == 0) return fallback;
        var text = result.Tokens[^1].Value;
        if (parse(text) is { } value) return value;
        result.AddError(error(text));
        return fallback;
    }
}
