using System.Text.RegularExpressions;

namespace Fathom.Architecture.Tests;

/// <summary>
/// The rules of docs/architecture.md, read from the checkout: a layout that drifts fails here,
/// not in a reviewer's memory.
/// </summary>
public sealed partial class LayoutTests
{
    /// <summary>
    /// Which src project may reference which (docs/architecture.md, "Dependencies point down").
    /// A project not listed here is a new part: add it, with its place in the order, when it lands.
    /// </summary>
    private static readonly Dictionary<string, string[]> Allowed = new()
    {
        ["Netlink"] = [],
        ["Cni"] = ["Netlink"],
        // Agent.Protocol: the subnet modes' shared plugin entry asks the agent (BCL only, no cycle).
        ["Datapath"] = ["Netlink", "Cni", "Agent.Protocol"],
        ["Datapath.Underlay"] = ["Netlink", "Cni", "Datapath"],
        ["Datapath.Shared"] = ["Netlink", "Cni", "Datapath", "Agent.Protocol"],
        ["Datapath.HostGw"] = ["Netlink", "Cni", "Datapath", "Agent.Protocol"],
        ["Datapath.Overlay"] = ["Netlink", "Cni", "Datapath", "Agent.Protocol"],
        ["Agent.Protocol"] = [],
        ["Cloud"] = [],
        ["Cloud.Aws"] = ["Cloud"],
        ["Cloud.Host"] = ["Cloud", "Netlink"],
        ["Datastore"] = [],
        ["Agent"] = ["Netlink", "Cni", "Datapath", "Datapath.Underlay", "Datapath.Shared", "Datapath.HostGw", "Datapath.Overlay",
                     "Agent.Protocol", "Cloud", "Cloud.Aws", "Cloud.Host", "Datastore"],
        ["Plugin"] = ["Netlink", "Cni", "Datapath", "Datapath.Underlay", "Datapath.Shared", "Datapath.HostGw", "Datapath.Overlay",
                      "Agent.Protocol"],
        ["Lab"] = ["Netlink"],
        // fathomctl's benchmarks assemble Fathom's datapaths directly, beside the classic wiring.
        ["Ctl"] = ["Netlink", "Cni", "Lab", "Agent.Protocol", "Cloud", "Cloud.Aws", "Datastore",
                   "Datapath", "Datapath.Underlay", "Datapath.Shared", "Datapath.HostGw", "Datapath.Overlay"],
    };

    private static string Src => Path.Combine(Repository.Root, "src");
    private static string Tests => Path.Combine(Repository.Root, "tests");

    private static IEnumerable<string> SrcProjects() =>
        Directory.GetDirectories(Src).Where(d => Directory.GetFiles(d, "*.csproj").Length > 0).Select(Path.GetFileName)!;

    [GeneratedRegex("""<ProjectReference Include="[^"]*/src/([^/"]+)/|<ProjectReference Include="\.\./([^/"]+)/""")]
    private static partial Regex ProjectReference();

    [Fact]
    public void Every_src_project_references_only_what_lies_below_it()
    {
        var wrong = new List<string>();
        foreach (var project in SrcProjects())
        {
            if (!Allowed.TryGetValue(project, out var allowed))
            {
                wrong.Add($"src/{project} is not in the dependency table of docs/architecture.md (and of this test)");
                continue;
            }
            var csproj = File.ReadAllText(Directory.GetFiles(Path.Combine(Src, project), "*.csproj")[0]);
            foreach (Match m in ProjectReference().Matches(csproj))
            {
                var target = m.Groups[1].Success ? m.Groups[1].Value : m.Groups[2].Value;
                if (!allowed.Contains(target)) wrong.Add($"src/{project} references src/{target}");
            }
        }
        Assert.True(wrong.Count == 0, string.Join("\n", wrong));
    }

    [Fact]
    public void The_dependency_table_has_no_cycle()
    {
        var state = new Dictionary<string, int>(); // 1 visiting, 2 done
        void Visit(string p, Stack<string> path)
        {
            if (state.GetValueOrDefault(p) == 2) return;
            Assert.False(state.GetValueOrDefault(p) == 1, $"cycle: {string.Join(" → ", path.Reverse().Append(p))}");
            state[p] = 1;
            path.Push(p);
            foreach (var d in Allowed.GetValueOrDefault(p, [])) Visit(d, path);
            path.Pop();
            state[p] = 2;
        }
        foreach (var p in Allowed.Keys) Visit(p, new Stack<string>());
    }

    [Fact]
    public void Every_src_project_has_its_test_project()
    {
        var missing = SrcProjects().Where(p => !File.Exists(Path.Combine(Tests, $"{p}.Tests", $"Fathom.{p}.Tests.csproj"))).ToList();
        Assert.True(missing.Count == 0, "no tests/<Project>.Tests for: " + string.Join(", ", missing));
    }

    [Fact]
    public void No_src_file_is_over_600_lines()
    {
        var long_ = Directory.GetFiles(Src, "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains("/obj/") && !f.Contains("/bin/"))
            .Select(f => (File: Path.GetRelativePath(Repository.Root, f), Lines: File.ReadLines(f).Count()))
            .Where(f => f.Lines > 600).ToList();
        Assert.True(long_.Count == 0, string.Join("\n", long_.Select(f => $"{f.File}: {f.Lines} lines")));
    }

    [Fact]
    public void The_core_knows_no_mode()
    {
        // docs/architecture.md: src/Cni is the spec; a mode's names and fields live with the mode.
        var words = new[] { "underlay", "Underlay", "hwaddr", "kernelpath", "host-gw", "overlay" };
        var found = Directory.GetFiles(Path.Combine(Src, "Cni"), "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains("/obj/") && !f.Contains("/bin/"))
            .SelectMany(f => File.ReadLines(f).Select((line, i) => (f, i, line)))
            .Where(x => words.Any(w => x.line.Contains(w, StringComparison.Ordinal)))
            .Select(x => $"{Path.GetRelativePath(Repository.Root, x.f)}:{x.i + 1}: {x.line.Trim()}").ToList();
        Assert.True(found.Count == 0, string.Join("\n", found));
    }

    /// <summary>
    /// In the projects linked into the plugin, no interpolated string is written inside another's
    /// hole: the inner one rents a second buffer from ArrayPool&lt;char&gt;.Shared while the outer's is
    /// out, and returning it runs .NET's sched_getcpu calibration, ≈ 0.1 ms of a plugin process
    /// (IpPrefix's remarks; docs/benchmarks.md). Concatenate the inner part, or compute it first.
    /// </summary>
    [Fact]
    public void The_plugin_nests_no_interpolated_string_in_another()
    {
        string[] plugin = ["Plugin", "Cni", "Netlink", "Agent.Protocol", "Datapath", "Datapath.Shared", "Datapath.HostGw", "Datapath.Overlay", "Datapath.Underlay"];
        var found = plugin.SelectMany(p => Directory.GetFiles(Path.Combine(Src, p), "*.cs", SearchOption.AllDirectories))
            .Where(f => !f.Contains("/obj/") && !f.Contains("/bin/"))
            .SelectMany(f => File.ReadLines(f).Select((line, i) => (f, i, line)))
            .Where(x => NestedInterpolation().IsMatch(x.line))
            .Select(x => $"{Path.GetRelativePath(Repository.Root, x.f)}:{x.i + 1}: {x.line.Trim()}").ToList();
        Assert.True(found.Count == 0, string.Join("\n", found));
    }

    // $"…{ … $"…": an interpolated string opened inside a hole of another. A hole may hold quoted
    // strings and empty property patterns ({ }); earlier holes of the outer string are skipped whole.
    [GeneratedRegex(@"\$""(?:[^""{]|\{(?:[^{}""]|\{\s*\}|""[^""]*"")*\})*\{(?:[^{}""]|\{\s*\}|""[^""]*"")*\$""")]
    private static partial Regex NestedInterpolation();

    [GeneratedRegex(@"^\s*namespace\s+([\w.]+)", RegexOptions.Multiline)]
    private static partial Regex NamespaceDeclaration();

    [GeneratedRegex(@"^\s*using\s+(?:static\s+)?([\w.]+)\s*;", RegexOptions.Multiline)]
    private static partial Regex UsingDirective();

    /// <summary>
    /// Within each src project, the namespaces form no cycle (through <c>using</c> directives,
    /// and through qualified names <c>Fathom.X.Y.Type</c> in code). Namespace N depends on M when
    /// a file of N names M.
    /// </summary>
    [Fact]
    public void No_project_has_a_namespace_cycle()
    {
        var cycles = new List<string>();
        foreach (var project in SrcProjects())
        {
            var files = Directory.GetFiles(Path.Combine(Src, project), "*.cs", SearchOption.AllDirectories)
                .Where(f => !f.Contains("/obj/") && !f.Contains("/bin/")).ToList();
            var namespaceOf = files.ToDictionary(f => f, f => NamespaceDeclaration().Match(File.ReadAllText(f)) is { Success: true } m ? m.Groups[1].Value : "");
            var known = namespaceOf.Values.Where(n => n.Length > 0).ToHashSet();
            var edges = known.ToDictionary(n => n, _ => new HashSet<string>());
            foreach (var f in files)
            {
                var from = namespaceOf[f];
                if (from.Length == 0) continue;
                var text = File.ReadAllText(f);
                var named = UsingDirective().Matches(text).Select(m => m.Groups[1].Value)
                    .Concat(known.Where(n => text.Contains(n + ".", StringComparison.Ordinal)));
                foreach (var to in named)
                    if (to != from && known.Contains(to) && !from.StartsWith(to + ".", StringComparison.Ordinal))
                        edges[from].Add(to);
            }
            var state = new Dictionary<string, int>();
            bool Visit(string n, List<string> path)
            {
                if (state.GetValueOrDefault(n) == 2) return false;
                if (state.GetValueOrDefault(n) == 1)
                {
                    cycles.Add($"src/{project}: {string.Join(" → ", path.SkipWhile(p => p != n).Append(n))}");
                    return true;
                }
                state[n] = 1;
                path.Add(n);
                foreach (var m in edges[n].Order(StringComparer.Ordinal))
                    if (Visit(m, path)) return true;
                path.RemoveAt(path.Count - 1);
                state[n] = 2;
                return false;
            }
            foreach (var n in known.Order(StringComparer.Ordinal))
                if (Visit(n, [])) break;
        }
        Assert.True(cycles.Count == 0, string.Join("\n", cycles));
    }
}
