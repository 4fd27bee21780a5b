namespace Fathom.Cni;

/// <summary>
/// CNI_ARGS: <c>K=V;K=V</c> (CNI spec 1.1 §"Parameters"; keys from CONVENTIONS.md).
/// As the reference's <c>types.LoadArgs</c>: a key Fathom does not know is an error unless
/// <c>IgnoreUnknown</c> is true ("1" or "true"), in which case it lands in <see cref="Extra"/>.
/// </summary>
public sealed record CniArgs
{
    /// <summary>No CNI_ARGS at all.</summary>
    public static CniArgs Empty { get; } = new();

    /// <summary>The runtime tolerates plugins ignoring keys they do not know.</summary>
    public bool IgnoreUnknown { get; init; }

    /// <summary>K8S_POD_NAMESPACE: the pod's Kubernetes namespace.</summary>
    public string? K8sPodNamespace { get; init; }

    /// <summary>K8S_POD_NAME: the pod's name.</summary>
    public string? K8sPodName { get; init; }

    /// <summary>K8S_POD_INFRA_CONTAINER_ID: the sandbox ("pause") container.</summary>
    public string? K8sPodInfraContainerId { get; init; }

    /// <summary>K8S_POD_UID: the pod's UID.</summary>
    public string? K8sPodUid { get; init; }

    /// <summary>
    /// FATHOM_MODE: the datapath mode this pod asks for, on a network whose config allows a choice
    /// (its <c>modes</c>). The core only carries it; the mode table decides what it may be.
    /// </summary>
    public string? FathomMode { get; init; }

    /// <summary>Every other key, in order given (only with <see cref="IgnoreUnknown"/>).</summary>
    public IReadOnlyDictionary<string, string> Extra { get; init; } = new Dictionary<string, string>();

    /// <summary>Parses CNI_ARGS; throws error 4 naming the bad pair or the unknown key.</summary>
    public static CniArgs Parse(string? raw)
    {
        if (string.IsNullOrEmpty(raw)) return Empty;

        var pairs = new List<KeyValuePair<string, string>>();
        foreach (var pair in raw.Split(';'))
        {
            if (pair.Length == 0) continue; // a trailing ';' is harmless
            var eq = pair.IndexOf('=');
            if (eq <= 0)
                throw new CniException(CniErrorCode.InvalidEnvironment, $"CNI_ARGS: invalid pair \"{pair}\": expected KEY=VALUE");
            pairs.Add(new(pair[..eq], pair[(eq + 1)..]));
        }

        // IgnoreUnknown may come anywhere in the list, so read it first.
        var ignoreUnknown = false;
        foreach (var (k, v) in pairs)
            if (k == "IgnoreUnknown") ignoreUnknown = ParseBool(v);

        string? ns = null, name = null, infra = null, uid = null, mode = null;
        var extra = new Dictionary<string, string>(StringComparer.Ordinal);
        var unknown = new List<string>();
        foreach (var (k, v) in pairs)
        {
            switch (k)
            {
                case "IgnoreUnknown": break;
                case "K8S_POD_NAMESPACE": ns = v; break;
                case "K8S_POD_NAME": name = v; break;
                case "K8S_POD_INFRA_CONTAINER_ID": infra = v; break;
                case "K8S_POD_UID": uid = v; break;
                case "FATHOM_MODE": mode = v; break;
                default:
                    if (ignoreUnknown) extra[k] = v;
                    else unknown.Add(k);
                    break;
            }
        }
        if (unknown.Count > 0)
            throw new CniException(CniErrorCode.InvalidEnvironment,
                $"CNI_ARGS: unknown args [{string.Join(", ", unknown)}]",
                "set IgnoreUnknown=1 in CNI_ARGS to let fathom ignore keys it does not use");

        return new CniArgs
        {
            IgnoreUnknown = ignoreUnknown,
            K8sPodNamespace = ns,
            K8sPodName = name,
            K8sPodInfraContainerId = infra,
            K8sPodUid = uid,
            FathomMode = mode,
            Extra = extra,
        };
    }

    // The reference's UnmarshallableBool: "1"/"true" and "0"/"false", case-insensitive.
    private static bool ParseBool(string value) => value.ToLowerInvariant() switch
    {
        "1" or "true" => true,
        "0" or "false" => false,
        _ => throw new CniException(CniErrorCode.InvalidEnvironment,
            $"CNI_ARGS: IgnoreUnknown=\"{value}\" is not a boolean (1, true, 0 or false)"),
    };
}
