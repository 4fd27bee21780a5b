using System.Text;
using CsCheck;

namespace Fathom.Cni.Tests;

/// <summary>
/// One invocation as a hostile runtime or a careless operator makes it (issue 8): a command, a
/// CNI environment and a network config of raw bytes — generated field by field (wrong types for
/// every field, huge and deeply nested values, lone surrogates, NUL and control characters,
/// unknown versions, garbage prevResult and runtimeConfig, unknown keys) and then mutated
/// (truncated, invalid UTF-8 spliced in). Placeholders keep it safe to run as root: the config's
/// <c>dataDir</c> and <c>logFile</c> are only ever the test's own directory (or values fathom must
/// refuse), and CNI_PATH holds no plugin, so no IPAM plugin ever runs.
/// </summary>
public sealed record HostileInput(string Command, IReadOnlyDictionary<string, string?> Env, string ConfigTemplate, int Mutation, int MutationAt)
{
    /// <summary>The placeholders a runner replaces with its own values.</summary>
    public const string DataDir = "@DATADIR@", LogFile = "@LOGFILE@", Device = "@DEVICE@", Netns = "@NETNS@", CniPath = "@CNIPATH@", Mode = "@MODE@";

    // Where the generator puts raw invalid UTF-8 (replaced by bytes, never a C# string).
    private const string BadBytes = "@BAD@";

    /// <summary>Every code docs/cni.md lists (199 is deliberately not here: it means a bug).</summary>
    public static readonly IReadOnlySet<int> DocumentedCodes = new HashSet<int> { 1, 2, 3, 4, 5, 6, 7, 11, 50, 51, 100, 101, 102, 103, 104, 105, 106, 107 };

    /// <summary>The config bytes with the runner's placeholders filled in and the mutation applied.</summary>
    public byte[] Config(string dataDir, string logFile, string device, string netns, string mode)
    {
        var text = ConfigTemplate
            .Replace(Mode, mode, StringComparison.Ordinal)
            .Replace(DataDir, dataDir, StringComparison.Ordinal)
            .Replace(LogFile, logFile, StringComparison.Ordinal)
            .Replace(Device, device, StringComparison.Ordinal)
            .Replace(Netns, netns, StringComparison.Ordinal);
        var bytes = new List<byte>();
        foreach (var (part, i) in text.Split(BadBytes).Select((p, i) => (p, i)))
        {
            if (i > 0) bytes.AddRange(new byte[] { 0xff, 0xc3 }); // a stray byte, and a sequence cut short
            bytes.AddRange(Encoding.UTF8.GetBytes(part));
        }
        var at = bytes.Count == 0 ? 0 : MutationAt % bytes.Count;
        switch (Mutation)
        {
            case 1: return [.. bytes.Take(at)]; // truncated
            case 2: bytes.Insert(at, 0xff); return [.. bytes]; // invalid UTF-8 anywhere (never makes a valid path)
            case 3: bytes.InsertRange(at, "\"\\ud800\""u8.ToArray()); return [.. bytes]; // a lone surrogate, maybe where no value goes
            default: return [.. bytes];
        }
    }

    /// <summary>The environment with placeholders filled in; null values are variables left unset.</summary>
    public Dictionary<string, string> Environment(string netns, string cniPath)
    {
        var env = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (key, value) in Env)
            if (value is not null)
                env[key] = value.Replace(Netns, netns, StringComparison.Ordinal).Replace(CniPath, cniPath, StringComparison.Ordinal);
        return env;
    }

    public override string ToString() =>
        $"{Command} mutation={Mutation}@{MutationAt} env=[{string.Join(' ', Env.Select(e => $"{e.Key}={Show(e.Value)}"))}] config={Show(ConfigTemplate)}";

    private static string Show(string? s) => s is null ? "(unset)" : s.Length > 300 ? s[..300] + $"...({s.Length} chars)" : s;

    // ---- generators ----

    private static readonly string[] Versions = ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"];

    /// <summary>A JSON string literal of <paramref name="s"/>, escaping controls and every surrogate (so a lone one stays lone).</summary>
    public static string Quote(string s)
    {
        var b = new StringBuilder(s.Length + 2).Append('"');
        foreach (var c in s)
        {
            if (c is '"' or '\\') b.Append('\\').Append(c);
            else if (c < 0x20 || char.IsSurrogate(c)) b.Append($"\\u{(int)c:x4}");
            else b.Append(c);
        }
        return b.Append('"').ToString();
    }

    private static readonly Gen<string> Text = Gen.Frequency(
        (4, Gen.String.Select(Quote)),
        (2, Gen.Char.Array[0, 12].Select(cs => Quote(new string(cs)))),
        (3, Gen.OneOfConst(
            "\"\"", "\"\\ud800\"", "\"a\\udc00\"", "\"\\udbff\\udbff\"", "\"a\\u0000b\"", "\"\\u0007\\u001b\"",
            "\"eth0\"", "\"" + Device + "\"", "\"1.1.0\"", "\"0.1.0\"", "\"99.0.0\"", "\"1.1\"", "\"fathom\"", "\"underlay\"",
            "\"10.0.0.5/24\"", "\"10.0.0.5\"", "\"::1/128\"", "\"02:00:00:00:00:01\"", "\"/sys/devices/../x\"",
            "\"relative/path\"", "\"./x\"", "\"..\"", "\"/\"", "\"" + BadBytes + "\"", "\"x" + BadBytes + "y\"", "\"\t\"",
            "\"\u0001\"", "\"\u00e9\u4e2d\U0001F600\"")),
        (1, Gen.Int[1000, 300_000].Select(n => "\"" + new string('x', n) + "\"")));

    private static readonly Gen<string> Number = Gen.OneOfConst(
        "0", "-1", "1", "1.5", "1e400", "-1e400", "2147483648", "-2147483649", "99999999999999999999999", "-0", "1e-400", "65536", "9");

    // Nesting around the parser's limit (64) now and then: deeper is error 6, shallower must parse.
    private static readonly Gen<int> Depth = Gen.Frequency((4, Gen.Int[1, 62]), (1, Gen.Int[63, 300]));

    private static readonly Gen<string> Scalar = Gen.Frequency(
        (20, Text), (8, Number), (4, Gen.OneOfConst("true", "false", "null")),
        (1, Depth.Select(n => new string('[', n) + new string(']', n))),
        (1, Depth.Select(n => string.Concat(Enumerable.Repeat("{\"a\":", n)) + "1" + new string('}', n))));

    private static Gen<string> Value(int depth) => depth <= 0
        ? Scalar
        : Gen.Frequency(
            (6, Scalar),
            (1, Value(depth - 1).Array[0, 4].Select(items => "[" + string.Join(",", items) + "]")),
            (1, Gen.Select(Key, Value(depth - 1)).Array[0, 4].Select(members => "{" + string.Join(",", members.Select(m => m.Item1 + ":" + m.Item2)) + "}")));

    private static readonly Gen<string> Key = Gen.Frequency(
        (3, Gen.OneOfConst("\"type\"", "\"name\"", "\"address\"", "\"interfaces\"", "\"ips\"", "\"routes\"", "\"dst\"", "\"gw\"",
            "\"mac\"", "\"sandbox\"", "\"mtu\"", "\"interface\"", "\"nameservers\"", "\"containerID\"", "\"ifname\"", "\"cniVersion\"")),
        (2, Gen.String.Select(Quote)),
        (1, Gen.OneOfConst("\"\\ud800\"", "\"k" + BadBytes + "\"", "\"\"", "\"a\\u0000\"")));

    private static readonly Gen<string> AnyValue = Value(3);

    // A prevResult fathom must read, and ones it must refuse (7), or any JSON at all.
    private static readonly Gen<string> PrevResult = Gen.OneOfConst(
            "{\"cniVersion\":\"1.1.0\",\"interfaces\":[{\"name\":\"eth0\",\"mac\":\"02:f0:0d:00:00:01\",\"sandbox\":\"" + Netns + "\"}],\"ips\":[{\"address\":\"10.10.0.1/24\",\"interface\":0}]}",
            "{\"cniVersion\":\"0.2.0\",\"ip4\":{\"ip\":\"10.0.0.5/24\"}}",
            "{\"cniVersion\":\"1.0.0\",\"interfaces\":[{\"name\":\"eth0\"}],\"ips\":[{\"address\":\"10.0.0.5/24\",\"gateway\":\"10.0.0.1\",\"interface\":0}],\"dns\":{}}");

    private static readonly Gen<string> PrevResultHostile = Gen.Frequency(
        (1, Gen.OneOfConst(
            "{\"interfaces\":[{\"name\":\"eth0\"}],\"ips\":[{\"address\":\"10.0.0.5/24\",\"interface\":-1}]}",
            "{\"ips\":[{\"address\":\"10.0.0.5/24\",\"interface\":2147483648}],\"routes\":[{\"dst\":\"0.0.0.0/0\",\"mtu\":1e400}]}")),
        (1, Gen.Select(Key, AnyValue).Array[0, 5].Select(m => "{" + string.Join(",", m.Select(x => x.Item1 + ":" + x.Item2)) + "}")),
        (1, AnyValue));

    // A field fathom reads: usually good, else hostile. Paths stay the runner's (or are refused).
    private static Gen<string?> Field(Gen<string> good, Gen<string> hostile) =>
        // Mostly good, so that most cases get past the first check to the one hostile field.
        Gen.Frequency((40, good.Select(g => (string?)g)), (2, hostile.Select(h => (string?)h)), (1, Gen.Const((string?)null)));

    private static readonly Gen<string> PathHostile = Gen.OneOfConst(
        "\"relative/dir\"", "\"x\"", "\"\"", "1", "[]", "{}", "null", "\"/tmp/a\\u0000b\"", "\"" + BadBytes + "\"", "\"\\ud800\"",
        "\"" + new string('r', 5000) + "\"");

    private static readonly Gen<List<(string Key, string? Value)>> Fields =
        Gen.Select(
            Field(Gen.OneOfConst(Versions).Select(v => Quote(v)), AnyValue),
            Field(Gen.Const("\"fuzznet\""), AnyValue),
            Field(Gen.Const("\"fathom\""), AnyValue),
            Field(Gen.Const("\"" + Mode + "\""), AnyValue),
            Field(Gen.Const("\"" + Device + "\""), AnyValue),
            Field(Gen.OneOfConst("{}", "{\"type\":\"fuzz-ipam\"}", "{\"type\":\"host-local\",\"subnet\":\"10.0.0.0/24\"}"), AnyValue),
            Gen.Select(
                Field(Gen.Const("\"" + DataDir + "\""), PathHostile),
                Field(Gen.Const("\"" + LogFile + "\""), PathHostile),
                Field(PrevResult, PrevResultHostile),
                Field(Gen.Const("{\"mac\":\"02:00:00:00:00:09\"}"), AnyValue),
                Field(Gen.OneOfConst("[\"0.4.0\",\"1.1.0\"]", "[]", "[\"9.9.9\"]"), AnyValue),
                Field(Gen.OneOfConst("[{\"containerID\":\"a\",\"ifname\":\"eth0\"}]", "[]"), AnyValue),
                Gen.Select(Key, AnyValue).Array[0, 3],
                (dataDir, logFile, prev, runtimeConfig, versions, attachments, extra) => (dataDir, logFile, prev, runtimeConfig, versions, attachments, extra)),
            (version, name, type, mode, device, ipam, rest) =>
            {
                var list = new List<(string, string?)>
                {
                    ("cniVersion", version), ("name", name), ("type", type), ("mode", mode), ("device", device), ("ipam", ipam),
                    // dataDir always: a config without one would write records under /var/lib/cni.
                    ("dataDir", rest.dataDir ?? "\"" + DataDir + "\""), ("logFile", rest.logFile), ("prevResult", rest.prev),
                    ("runtimeConfig", rest.runtimeConfig), ("cniVersions", rest.versions),
                    ("cni.dev/valid-attachments", rest.attachments),
                };
                // Unknown keys (a known one twice is the malformed-input table's duplicate case, and
                // dataDir or logFile twice could carry a path of their own).
                var known = list.Select(f => "\"" + f.Item1 + "\"").ToHashSet();
                list.AddRange(rest.extra.Where(e => !known.Contains(e.Item1)).DistinctBy(e => e.Item1).Select(e => ((string)e.Item1, (string?)e.Item2)));
                return list;
            });

    private static string Render(List<(string Key, string? Value)> fields) =>
        "{" + string.Join(",", fields.Where(f => f.Value is not null).Select(f => (f.Key.StartsWith('"') ? f.Key : Quote(f.Key)) + ":" + f.Value)) + "}";

    private static Gen<string?> EnvValue(Gen<string> good, params string[] hostile) =>
        Gen.Frequency((40, good.Select(g => (string?)g)), (2, Gen.OneOfConst(hostile).Select(h => (string?)h)), (1, Gen.Const((string?)null)));

    /// <summary>A hostile invocation. <paramref name="binary"/>: values a process environment can carry (no NUL).</summary>
    public static Gen<HostileInput> Generate(bool binary) =>
        Gen.Select(
            Gen.Frequency((5, Gen.OneOfConst("ADD", "DEL", "CHECK")), (2, Gen.OneOfConst("STATUS", "GC")), (1, Gen.OneOfConst("VERSION", "add", "FROB", ""))),
            EnvValue(Gen.Const("fz-1"), "", "-x", "a/b", new string('c', 300), "a b", "c\u00e9", "\ud800"),
            EnvValue(Gen.Const("eth0"), "", ".", "..", "e/0", "e:0", "abcdefghijklmnop", "\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9", "eth 0"),
            EnvValue(Gen.Const(Netns), "", "/proc/self/ns/net", "relative", "/nonexistent/ns", "/dev/null", "/proc/1/ns/mnt"),
            EnvValue(Gen.Const(CniPath), "", ":::", "/nonexistent"),
            EnvValue(Gen.OneOfConst("IgnoreUnknown=1", "K8S_POD_NAME=p"), "x", "a=b;c", "IgnoreUnknown=maybe", ";;", "=", "K8S_POD_NAME=\ud800"),
            Gen.Select(Fields, Gen.Frequency((20, Gen.Const(0)), (1, Gen.Const(1)), (1, Gen.Const(2)), (1, Gen.Const(3))), Gen.Int[0, int.MaxValue]),
            (command, id, ifName, netns, cniPath, args, config) =>
            {
                var env = new Dictionary<string, string?>
                {
                    ["CNI_COMMAND"] = command, ["CNI_CONTAINERID"] = id, ["CNI_IFNAME"] = ifName,
                    ["CNI_NETNS"] = netns, ["CNI_PATH"] = cniPath, ["CNI_ARGS"] = args,
                };
                if (binary)
                    foreach (var key in env.Keys.ToList())
                        if (env[key] is { } v && (v.Contains('\0') || v.Any(char.IsSurrogate))) env[key] = "x";
                return new HostileInput(command, env, Render(config.Item1), config.Item2, config.Item3);
            });

    /// <summary>How many in-process cases a run samples: a quick default, a long soak with FATHOM_FUZZ_SOAK=1.</summary>
    public static bool Soak => System.Environment.GetEnvironmentVariable("FATHOM_FUZZ_SOAK") == "1";
}
