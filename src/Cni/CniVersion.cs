namespace Fathom.Cni;

/// <summary>
/// The spec versions Fathom speaks and the rules between them: which commands a version
/// has (CHECK since 0.4.0, STATUS and GC since 1.1.0) and the <c>cniVersions</c> negotiation
/// of CNI spec 1.1 §"Version selection".
/// </summary>
public static class CniVersion
{
    /// <summary>The newest version Fathom implements (and reports in VERSION).</summary>
    public const string Latest = "1.1.0";

    /// <summary>Every version Fathom accepts in a config, oldest first. 0.1.0/0.2.0 results can still be read (from delegates), never requested.</summary>
    public static IReadOnlyList<string> Supported { get; } = ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"];

    /// <summary>True when <paramref name="version"/> is one of <see cref="Supported"/> (exact string, as the spec's reconciler does).</summary>
    public static bool IsSupported(string version) => Supported.Contains(version, StringComparer.Ordinal);

    /// <summary>Parses <c>MAJOR.MINOR.PATCH</c> (as semver, without pre-release tags).</summary>
    public static bool TryParse(string? version, out (int Major, int Minor, int Patch) parsed)
    {
        parsed = default;
        if (string.IsNullOrEmpty(version)) return false;
        var parts = version.Split('.');
        if (parts.Length != 3) return false;
        Span<int> n = stackalloc int[3];
        for (var i = 0; i < 3; i++)
        {
            if (parts[i].Length == 0 || !parts[i].All(char.IsAsciiDigit) || !int.TryParse(parts[i], out n[i]))
                return false;
        }
        parsed = (n[0], n[1], n[2]);
        return true;
    }

    /// <summary>Compares two versions; a malformed one sorts below every well-formed one.</summary>
    public static int Compare(string? a, string? b)
    {
        var okA = TryParse(a, out var va);
        var okB = TryParse(b, out var vb);
        if (!okA || !okB) return okA.CompareTo(okB);
        return va.CompareTo(vb);
    }

    /// <summary>True when <paramref name="version"/> is at least <paramref name="minimum"/>.</summary>
    public static bool AtLeast(string version, string minimum) => Compare(version, minimum) >= 0;

    /// <summary>The first version that has <paramref name="command"/> (CNI spec: CHECK 0.4.0, STATUS/GC 1.1.0).</summary>
    public static string Introduced(CniCommand command) => command switch
    {
        CniCommand.Check => "0.4.0",
        CniCommand.Status or CniCommand.Gc => "1.1.0",
        _ => "0.1.0",
    };

    /// <summary>
    /// The <c>cniVersions</c> rule: the highest version in <paramref name="offered"/> that
    /// <paramref name="understood"/> (default: Fathom's <see cref="Supported"/>) also contains,
    /// or null when they share none.
    /// </summary>
    public static string? Negotiate(IEnumerable<string> offered, IEnumerable<string>? understood = null)
    {
        var known = (understood ?? Supported).ToHashSet(StringComparer.Ordinal);
        string? best = null;
        foreach (var v in offered)
            if (known.Contains(v) && TryParse(v, out _) && (best is null || Compare(v, best) > 0))
                best = v;
        return best;
    }

    /// <summary>
    /// The version a plugin config speaks: its <c>cniVersion</c> (what the runtime chose), or,
    /// when absent, the negotiation over <c>cniVersions</c>. Throws error 1 when Fathom does not
    /// speak it (a config without either is 0.1.0, as libcni's decoder assumes).
    /// </summary>
    public static string Select(string? cniVersion, IReadOnlyList<string>? cniVersions)
    {
        if (!string.IsNullOrEmpty(cniVersion))
        {
            if (!IsSupported(cniVersion))
                throw new CniException(CniErrorCode.IncompatibleVersion, "incompatible CNI versions",
                    $"config is \"{cniVersion}\", fathom supports [{string.Join(", ", Supported)}]");
            return cniVersion;
        }
        if (cniVersions is { Count: > 0 })
        {
            return Negotiate(cniVersions) ?? throw new CniException(CniErrorCode.IncompatibleVersion,
                "incompatible CNI versions",
                $"config offers cniVersions [{string.Join(", ", cniVersions)}], fathom supports [{string.Join(", ", Supported)}]");
        }
        throw new CniException(CniErrorCode.IncompatibleVersion, "incompatible CNI versions",
            $"config has no cniVersion (0.1.0 assumed), fathom supports [{string.Join(", ", Supported)}]");
    }

    /// <summary>Throws error 1 when <paramref name="version"/> lacks <paramref name="command"/> (e.g. CHECK under 0.3.1).</summary>
    public static void RequireCommand(string version, CniCommand command)
    {
        var since = Introduced(command);
        if (!AtLeast(version, since))
            throw new CniException(CniErrorCode.IncompatibleVersion,
                $"config version {version} does not allow {CniCommands.Name(command)}",
                $"{CniCommands.Name(command)} exists since CNI spec {since}");
    }
}
