namespace Fathom.Cni.Tests;

/// <summary>
/// One malformed invocation and the exact code it must fail with (issue 3 §4, "a table of
/// malformed configs and environments"). Run in-process and through the AOT binary, for every
/// spec version where the case applies.
/// </summary>
public sealed record MalformedInput(
    string Name,
    string Command,
    int Code,
    Func<string, string> Config,
    Action<Dictionary<string, string>>? Env = null,
    Func<string, bool>? AppliesTo = null,
    bool ModeSection = false)
{
    public override string ToString() => Name;

    private static string Base(string v, string extra = "") =>
        $$"""{"cniVersion":"{{v}}","name":"testnet","type":"fathom","device":"eth10"{{extra}}}""";

    private static Action<Dictionary<string, string>> Set(string key, string value) => env => env[key] = value;
    private static Action<Dictionary<string, string>> Unset(string key) => env => env.Remove(key);

    /// <summary>Every case, by name.</summary>
    public static IReadOnlyList<MalformedInput> All { get; } =
    [
        // Environment (code 4, CNI spec 1.1 §"Parameters"; reference skel).
        new("missing CNI_COMMAND", "ADD", 4, v => Base(v), Unset("CNI_COMMAND")),
        new("empty CNI_COMMAND", "ADD", 4, v => Base(v), Set("CNI_COMMAND", "")),
        new("unknown CNI_COMMAND", "ADD", 4, v => Base(v), Set("CNI_COMMAND", "FROB")),
        new("lower-case command", "ADD", 4, v => Base(v), Set("CNI_COMMAND", "add")),
        new("ADD without CNI_CONTAINERID", "ADD", 4, v => Base(v), Unset("CNI_CONTAINERID")),
        new("ADD without CNI_NETNS", "ADD", 4, v => Base(v), Unset("CNI_NETNS")),
        new("ADD without CNI_IFNAME", "ADD", 4, v => Base(v), Unset("CNI_IFNAME")),
        new("ADD without CNI_PATH", "ADD", 4, v => Base(v), Unset("CNI_PATH")),
        new("DEL without CNI_CONTAINERID", "DEL", 4, v => Base(v), Unset("CNI_CONTAINERID")),
        new("DEL without CNI_IFNAME", "DEL", 4, v => Base(v), Unset("CNI_IFNAME")),
        new("CHECK without CNI_NETNS", "CHECK", 4, v => Base(v), Unset("CNI_NETNS")),
        new("GC without CNI_PATH", "GC", 4, v => Base(v), Unset("CNI_PATH")),
        new("container ID starting with -", "ADD", 4, v => Base(v), Set("CNI_CONTAINERID", "-abc")),
        new("container ID with a slash", "DEL", 4, v => Base(v), Set("CNI_CONTAINERID", "a/b")),
        new("container ID with a space", "ADD", 4, v => Base(v), Set("CNI_CONTAINERID", "a b")),
        new("ifname of 16 bytes", "ADD", 4, v => Base(v), Set("CNI_IFNAME", "abcdefghijklmnop")),
        new("ifname .", "ADD", 4, v => Base(v), Set("CNI_IFNAME", ".")),
        new("ifname ..", "DEL", 4, v => Base(v), Set("CNI_IFNAME", "..")),
        new("ifname with /", "ADD", 4, v => Base(v), Set("CNI_IFNAME", "eth/0")),
        new("ifname with :", "ADD", 4, v => Base(v), Set("CNI_IFNAME", "eth:0")),
        new("ifname with a space", "ADD", 4, v => Base(v), Set("CNI_IFNAME", "eth 0")),
        new("CNI_ARGS not K=V", "ADD", 4, v => Base(v), Set("CNI_ARGS", "K8S_POD_NAME")),
        new("CNI_ARGS unknown key", "ADD", 4, v => Base(v), Set("CNI_ARGS", "FOO=bar")),
        new("CNI_ARGS bad IgnoreUnknown", "ADD", 4, v => Base(v), Set("CNI_ARGS", "IgnoreUnknown=yes")),

        // Decoding (code 6).
        new("config not JSON", "ADD", 6, _ => "{\"cniVersion\": "),
        new("config empty", "ADD", 6, _ => ""),
        new("config an array", "ADD", 6, v => $"[{Base(v)}]"),
        new("config with a duplicate key", "ADD", 6, v => Base(v, ""","device":"eth11" """)),

        // Versions (code 1).
        new("cniVersion 0.2.0", "ADD", 1, _ => Base("0.2.0")),
        new("cniVersion 1.2.0", "ADD", 1, _ => Base("1.2.0")),
        new("no cniVersion", "ADD", 1, _ => """{"name":"testnet","type":"fathom"}"""),
        new("cniVersions without a shared one", "ADD", 1, _ => """{"cniVersions":["0.1.0","9.0.0"],"name":"testnet","type":"fathom"}"""),
        new("CHECK before 0.4.0", "CHECK", 1, v => Base(v, ""","prevResult":{"interfaces":[{"name":"eth0"}]}"""), AppliesTo: v => !CniVersion.AtLeast(v, "0.4.0")),
        new("STATUS before 1.1.0", "STATUS", 1, v => Base(v), AppliesTo: v => !CniVersion.AtLeast(v, "1.1.0")),
        new("GC before 1.1.0", "GC", 1, v => Base(v), AppliesTo: v => !CniVersion.AtLeast(v, "1.1.0")),

        // The config (code 7).
        new("missing name", "ADD", 7, v => $$"""{"cniVersion":"{{v}}","type":"fathom"}"""),
        new("name with a space", "DEL", 7, v => $$"""{"cniVersion":"{{v}}","name":"my net","type":"fathom"}"""),
        new("missing type", "ADD", 7, v => $$"""{"cniVersion":"{{v}}","name":"testnet"}"""),
        new("unknown mode", "ADD", 7, v => Base(v, ""","mode":"overlay-ng" """)),
        new("unknown mode on DEL", "DEL", 7, v => Base(v, ""","mode":"overlay-ng" """)),
        new("hwaddr not a string (underlay's section: the binary only)", "ADD", 7, v => Base(v, ""","hwaddr":12"""), ModeSection: true),
        new("ipam not an object", "ADD", 7, v => Base(v, ""","ipam":"host-local" """)),
        new("ipam without type", "ADD", 7, v => Base(v, ""","ipam":{"subnet":"10.0.0.0/24"}""")),
        new("ipam type a path", "ADD", 7, v => Base(v, ""","ipam":{"type":"/bin/sh"}""")),
        new("runtimeConfig not an object", "ADD", 7, v => Base(v, ""","runtimeConfig":true""")),
        new("prevResult with a bad address", "DEL", 7, v => Base(v, ""","prevResult":{"ips":[{"address":"10.0.0.300/24"}]}""")),
        new("CHECK without prevResult", "CHECK", 7, v => Base(v), AppliesTo: v => CniVersion.AtLeast(v, "0.4.0")),
        new("GC attachments not a list", "GC", 7, v => Base(v, ""","cni.dev/attachments":"c1" """), AppliesTo: v => CniVersion.AtLeast(v, "1.1.0")),

        // Delegation (Fathom's codes).
        new("ipam plugin not on CNI_PATH", "ADD", 105, v => Base(v, ""","ipam":{"type":"no-such-ipam"}""")),
    ];

    /// <summary>Every (case, version) pair where the case applies (the binary, with its real modes, runs them all).</summary>
    public static TheoryData<string, string> Cases() => CasesWhere(_ => true);

    /// <summary>The cases the core refuses by itself, before any mode parses its section (in-process, with a test mode).</summary>
    public static TheoryData<string, string> CoreCases() => CasesWhere(i => !i.ModeSection);

    private static TheoryData<string, string> CasesWhere(Func<MalformedInput, bool> filter)
    {
        var data = new TheoryData<string, string>();
        foreach (var input in All.Where(filter))
            foreach (var v in CniVersion.Supported)
                if (input.AppliesTo?.Invoke(v) ?? true) data.Add(input.Name, v);
        return data;
    }

    public static MalformedInput Named(string name) => All.Single(i => i.Name == name);

    /// <summary>The runtime's environment for this case.</summary>
    public Dictionary<string, string> Environment()
    {
        // The environment of an ADD into a netns that does not exist (as InProcess.Env): the binary
        // runs these too (Plugin.Tests links this file), so it builds its own.
        var env = new Dictionary<string, string>
        {
            ["CNI_COMMAND"] = Command,
            ["CNI_CONTAINERID"] = "ctr-1",
            ["CNI_NETNS"] = "/var/run/netns/ftest-cni-none",
            ["CNI_IFNAME"] = "eth0",
            ["CNI_PATH"] = "/usr/lib/cni",
        };
        if (Command is "GC" or "STATUS")
        {
            env.Remove("CNI_CONTAINERID");
            env.Remove("CNI_NETNS");
            env.Remove("CNI_IFNAME");
        }
        Env?.Invoke(env);
        return env;
    }
}
