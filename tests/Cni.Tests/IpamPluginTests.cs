using System.Text.Json.Nodes;

namespace Fathom.Cni.Tests;

/// <summary>
/// Delegated IPAM with Debian's real reference plugins (/usr/lib/cni host-local and static).
/// IPAM plugins do not enter the pod's netns, so these need no root: host-local keeps its
/// leases in a temporary dataDir (and fathom its attachment records), and the datapath is the
/// recording test datapath.
/// </summary>
public sealed class IpamPluginTests : IDisposable
{
    private const string CniDir = "/usr/lib/cni";
    private readonly DirectoryInfo _dataDir = Directory.CreateTempSubdirectory("fathom-cni-ipam-");

    public void Dispose() => _dataDir.Delete(recursive: true);

    private string HostLocal(string version, string subnet = "10.99.0.0/24", string extra = "") => $$$"""
        {"cniVersion":"{{{version}}}","name":"ipamnet","type":"fathom","device":"eth10","dataDir":"{{{Records}}}"{{{extra}}},
         "ipam":{"type":"host-local","dataDir":"{{{_dataDir.FullName}}}",
                 "ranges":[[{"subnet":"{{{subnet}}}","gateway":"10.99.0.1"}]],
                 "routes":[{"dst":"0.0.0.0/0"},{"dst":"192.168.0.0/16","gw":"10.99.0.254"}]}}
        """;

    private string Records => Path.Combine(_dataDir.FullName, "records");

    private string Lease(string ip) => Path.Combine(_dataDir.FullName, "ipamnet", ip);

    private static Dictionary<string, string> Env(string command, string container = "ctr-1")
    {
        var env = InProcess.Env(command);
        env["CNI_CONTAINERID"] = container;
        env["CNI_PATH"] = "/nonexistent:" + CniDir; // the first directory that has the plugin wins
        return env;
    }

    // A shell-script IPAM plugin in this test's own bin folder; returns the folder (its CNI_PATH).
    private string ScriptPlugin(string name, string script)
    {
        var bin = Directory.CreateDirectory(Path.Combine(_dataDir.FullName, "bin"));
        var plugin = Path.Combine(bin.FullName, name);
        File.WriteAllText(plugin, "#!/bin/sh\n" + script);
        File.SetUnixFileMode(plugin, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        return bin.FullName;
    }

    private static void RequirePlugins()
    {
        // The reference plugins are a prerequisite (scripts/prereqs.sh installs containernetworking-plugins).
        Assert.True(File.Exists($"{CniDir}/host-local") && File.Exists($"{CniDir}/static"),
            "needs containernetworking-plugins in /usr/lib/cni (scripts/prereqs.sh)");
    }

    [Theory]
    [MemberData(nameof(Versions.All), MemberType = typeof(Versions))]
    public void ADD_allocates_with_host_local_and_reports_the_ip_on_our_interface(string version)
    {
        RequirePlugins();
        var datapath = new TestDatapath();
        var output = InProcess.Run(datapath, Env("ADD"), HostLocal(version)).Succeeded();

        var json = output.Json;
        Assert.Equal(version, (string)json["cniVersion"]!);
        var ip = json["ips"]![0]!;
        Assert.Equal("10.99.0.2/24", (string)ip["address"]!);
        Assert.Equal("10.99.0.1", (string)ip["gateway"]!);
        Assert.Equal(0, (int)ip["interface"]!);
        Assert.Equal(CniVersion.AtLeast(version, "1.0.0") ? null : "4", (string?)ip["version"]);
        Assert.Equal(["0.0.0.0/0", "192.168.0.0/16"], json["routes"]!.AsArray().Select(r => (string)r!["dst"]!));
        Assert.Equal("10.99.0.254", (string)json["routes"]![1]!["gw"]!);

        // The datapath got host-local's result, and host-local holds the lease for our container.
        Assert.Equal("10.99.0.2/24", datapath.IpamResultSeen!.Ips[0].Address.ToString());
        Assert.Null(datapath.IpamResultSeen.Ips[0].Interface);
        Assert.StartsWith("ctr-1", File.ReadAllText(Lease("10.99.0.2")));
    }

    [Theory]
    [MemberData(nameof(Versions.All), MemberType = typeof(Versions))]
    public void A_failed_ADD_releases_the_address_and_reports_the_datapath_error(string version)
    {
        RequirePlugins();
        var datapath = new TestDatapath { FailAdd = new CniException(ModeErrors.DeviceNotFound, "device \"eth10\" not found on the host") };
        var output = InProcess.Run(datapath, Env("ADD"), HostLocal(version));
        Assert.Equal(100, output.ErrorCode);
        Assert.Equal("device \"eth10\" not found on the host", (string)output.Json["msg"]!);
        Assert.False(File.Exists(Lease("10.99.0.2")), "host-local still holds the address of a failed ADD");

        // Nothing is held for ctr-1; the next ADD gets an address (host-local hands them out round-robin).
        InProcess.Run(new TestDatapath(), Env("ADD", "ctr-2"), HostLocal(version)).Succeeded();
        var leases = Directory.GetFiles(Path.Combine(_dataDir.FullName, "ipamnet"), "10.99.*");
        Assert.StartsWith("ctr-2", File.ReadAllText(Assert.Single(leases)));
    }

    [Fact]
    public void A_datapath_that_refuses_before_asking_allocates_nothing()
    {
        var (bin, log) = NewIpam();
        var env = Env("ADD");
        env["CNI_PATH"] = bin;
        var datapath = new TestDatapath { FailAddBeforeAllocate = new CniException(ModeErrors.IfNameExists, "interface \"eth0\" already exists") };
        var output = InProcess.Run(datapath, env, NewIpamConfig());
        Assert.Equal(103, output.ErrorCode);
        Assert.False(File.Exists(log), "the IPAM plugin was never run: no ADD, and so no DEL"); // IPAM-first would log ADD and DEL
    }

    [Theory]
    [MemberData(nameof(Versions.All), MemberType = typeof(Versions))]
    public void DEL_releases_even_when_the_datapath_fails_and_is_idempotent(string version)
    {
        RequirePlugins();
        InProcess.Run(new TestDatapath(), Env("ADD"), HostLocal(version)).Succeeded();
        Assert.True(File.Exists(Lease("10.99.0.2")));

        var failing = new TestDatapath { FailDelete = new CniException(ModeErrors.DeviceBusy, "eth10 is taken on the host") };
        var output = InProcess.Run(failing, Env("DEL"), HostLocal(version));
        Assert.Equal(101, output.ErrorCode);
        Assert.False(File.Exists(Lease("10.99.0.2")), "DEL must release the address even when the datapath fails");

        // A second DEL, and a DEL without a netns, both succeed.
        InProcess.Run(new TestDatapath(), Env("DEL"), HostLocal(version)).Succeeded();
        var noNetns = Env("DEL");
        noNetns.Remove("CNI_NETNS");
        InProcess.Run(new TestDatapath(), noNetns, HostLocal(version)).Succeeded();
    }

    [Theory]
    [MemberData(nameof(Versions.WithCheck), MemberType = typeof(Versions))]
    public void CHECK_asks_host_local_about_its_lease(string version)
    {
        RequirePlugins();
        var added = InProcess.Run(new TestDatapath(), Env("ADD"), HostLocal(version)).Succeeded();
        var withPrev = HostLocal(version, extra: $",\"prevResult\":{added.Stdout}");
        var datapath = new TestDatapath();
        InProcess.Run(datapath, Env("CHECK"), withPrev).Succeeded();
        Assert.Equal(["CHECK"], datapath.Calls);

        // Another container has no lease: host-local's own error (its code 999) comes back as 106.
        var output = InProcess.Run(new TestDatapath(), Env("CHECK", "ctr-unknown"), withPrev);
        Assert.Equal(106, output.ErrorCode);
        Assert.Contains("host-local", (string)output.Json["msg"]!);
        Assert.Contains("999", (string)output.Json["details"]!);
    }

    [Fact]
    public void An_exhausted_range_fails_ADD_and_releases_nothing()
    {
        RequirePlugins();
        // 10.99.0.0/30 has one address to hand out besides the gateway.
        InProcess.Run(new TestDatapath(), Env("ADD", "c1"), HostLocal("1.0.0", "10.99.0.0/30")).Succeeded();
        var datapath = new TestDatapath();
        var output = InProcess.Run(datapath, Env("ADD", "c2"), HostLocal("1.0.0", "10.99.0.0/30"));
        Assert.Equal(106, output.ErrorCode);
        Assert.Contains("no IP addresses available", (string)output.Json["msg"]!);
        Assert.Equal(["ADD"], datapath.Calls); // the datapath asked for the allocation
    }

    [Fact]
    public void A_failed_IPAM_ADD_is_not_followed_by_an_IPAM_DEL()
    {
        // The plugin that failed cleans up after itself (host-local does); a DEL from fathom could
        // only race the runtime's own DEL.
        var log = Path.Combine(_dataDir.FullName, "failing-ipam-calls");
        var env = Env("ADD");
        env["CNI_PATH"] = ScriptPlugin("failing-ipam",
            $"cat >/dev/null\necho $CNI_COMMAND >> {log}\necho '{{\"cniVersion\":\"1.0.0\",\"code\":11,\"msg\":\"the pool is busy\"}}'\nexit 1\n");
        var output = InProcess.Run(new TestDatapath(), env, $$$"""{"cniVersion":"1.0.0","name":"n","type":"fathom","device":"eth10","dataDir":"{{{Records}}}","ipam":{"type":"failing-ipam"}}""");
        Assert.Equal(11, output.ErrorCode);
        Assert.Equal(["ADD"], File.ReadAllLines(log));
    }

    [Fact]
    public void GC_and_STATUS_at_1_1_0_bridge_to_an_ipam_plugin_that_speaks_1_0_0()
    {
        RequirePlugins();
        // Debian's host-local (1.1.1) speaks up to 1.0.0: ADD is bridged to 1.0.0; it has no GC or
        // STATUS, so those are skipped for it while the datapath still runs them. Its lease of an
        // attachment GC does not list is released all the same, by a DEL from fathom's record.
        InProcess.Run(new TestDatapath(), Env("ADD"), HostLocal("1.1.0")).Succeeded();

        var gc = new TestDatapath();
        var env = new Dictionary<string, string> { ["CNI_COMMAND"] = "GC", ["CNI_PATH"] = CniDir };
        InProcess.Run(gc, env, HostLocal("1.1.0", extra: ""","cni.dev/attachments":[]""")).Succeeded();
        Assert.Equal(["DEL", "GC"], gc.Calls);
        Assert.False(File.Exists(Lease("10.99.0.2")));

        var status = new TestDatapath();
        InProcess.Run(status, new Dictionary<string, string> { ["CNI_COMMAND"] = "STATUS", ["CNI_PATH"] = CniDir }, HostLocal("1.1.0")).Succeeded();
        Assert.Equal(["STATUS"], status.Calls);
    }

    [Theory]
    [MemberData(nameof(Versions.All), MemberType = typeof(Versions))]
    public void ADD_with_static_ipam_reports_its_addresses_routes_and_dns(string version)
    {
        RequirePlugins();
        var config = $$$"""
            {"cniVersion":"{{{version}}}","name":"staticnet","type":"fathom","device":"eth10","dataDir":"{{{Records}}}",
             "ipam":{"type":"static",
                     "addresses":[{"address":"10.10.0.5/24","gateway":"10.10.0.1"},{"address":"fd10::5/64"}],
                     "routes":[{"dst":"0.0.0.0/0"}],
                     "dns":{"nameservers":["10.10.0.2"],"domain":"example.com","search":["example.com"]}
             }
            }
            """;
        var json = InProcess.Run(new TestDatapath(), Env("ADD"), config).Succeeded().Json;
        Assert.Equal(["10.10.0.5/24", "fd10::5/64"], json["ips"]!.AsArray().Select(i => (string)i!["address"]!));
        Assert.Equal("10.10.0.1", (string)json["ips"]![0]!["gateway"]!);
        Assert.Equal("0.0.0.0/0", (string)json["routes"]![0]!["dst"]!);
        Assert.Equal("10.10.0.2", (string)json["dns"]!["nameservers"]![0]!);
        Assert.Equal("example.com", (string)json["dns"]!["domain"]!);
    }

    [Fact]
    public void A_plugin_that_crashes_is_error_106_with_its_stderr()
    {
        var env = Env("ADD");
        env["CNI_PATH"] = ScriptPlugin("crashy-ipam", "echo 'panic: runtime error: index out of range' >&2\nexit 2\n");
        var config = """{"cniVersion":"1.0.0","name":"n","type":"fathom","device":"eth10","ipam":{"type":"crashy-ipam"}}""";
        var output = InProcess.Run(new TestDatapath(), env, config);
        Assert.Equal(106, output.ErrorCode);
        Assert.Contains("exit status 2", (string)output.Json["msg"]!);
        Assert.Contains("index out of range", (string)output.Json["details"]!);
    }

    [Fact]
    public void A_plugin_that_prints_no_result_is_error_106_and_released()
    {
        var commands = Path.Combine(_dataDir.FullName, "commands");
        var env = Env("ADD");
        env["CNI_PATH"] = ScriptPlugin("chatty-ipam", $"cat >/dev/null\necho $CNI_COMMAND >> {commands}\necho 'allocated 10.0.0.5, have a nice day'\n");
        var config = """{"cniVersion":"1.0.0","name":"n","type":"fathom","device":"eth10","ipam":{"type":"chatty-ipam"}}""";
        var datapath = new TestDatapath();
        var output = InProcess.Run(datapath, env, config);
        Assert.Equal(106, output.ErrorCode);
        Assert.Contains("chatty-ipam", (string)output.Json["msg"]!);
        Assert.Equal(["ADD"], datapath.Calls); // the attach that asked; no datapath DEL
        // Whatever it allocated is released: a result fathom cannot read is not kept.
        Assert.Equal(["ADD", "DEL"], File.ReadAllLines(commands));
    }

    [Fact]
    public void The_ipam_plugin_gets_the_config_and_environment_unchanged()
    {
        // A plugin that echoes what it got as a result-shaped document we can inspect.
        var seen = Path.Combine(_dataDir.FullName, "seen");
        var bin = ScriptPlugin("spy-ipam", $"cat > {seen}.stdin\nenv > {seen}.env\necho '{{\"cniVersion\":\"1.0.0\",\"ips\":[{{\"address\":\"10.1.2.3/24\"}}]}}'\n");
        var env = Env("ADD");
        env["CNI_PATH"] = bin;
        env["CNI_ARGS"] = "IgnoreUnknown=1;K8S_POD_NAME=web-0";
        var config = $$$"""{"cniVersion":"1.0.0","name":"n","type":"fathom","device":"eth10","dataDir":"{{{Records}}}","ipam":{"type":"spy-ipam","extra":[1,2]}}""";
        var json = InProcess.Run(new TestDatapath(), env, config).Succeeded().Json;
        Assert.Equal("10.1.2.3/24", (string)json["ips"]![0]!["address"]!);
        Assert.Equal(config, File.ReadAllText(seen + ".stdin"));
        var childEnv = File.ReadAllLines(seen + ".env");
        Assert.Contains("CNI_COMMAND=ADD", childEnv);
        Assert.Contains("CNI_CONTAINERID=ctr-1", childEnv);
        Assert.Contains("CNI_IFNAME=eth0", childEnv);
        Assert.Contains("CNI_ARGS=IgnoreUnknown=1;K8S_POD_NAME=web-0", childEnv);
        Assert.Contains($"CNI_PATH={bin}", childEnv);
    }

    // An IPAM plugin that speaks up to 1.0.0, as Debian's do, and logs every call it gets.
    private (string Bin, string Log, string Plugin) OldIpam()
    {
        var log = Path.Combine(_dataDir.FullName, "calls");
        var bin = ScriptPlugin("old-ipam", $$$"""
            input=$(cat)
            echo "$CNI_COMMAND" >> {{{log}}}
            if [ "$CNI_COMMAND" = VERSION ]; then echo '{"cniVersion":"1.0.0","supportedVersions":["0.3.1","0.4.0","1.0.0"]}'; exit 0; fi
            case "$input" in *'"cniVersion":"1.1.0"'*|*'"cniVersion":"0.3.0"'*) echo '{"cniVersion":"1.0.0","code":1,"msg":"incompatible CNI versions"}'; exit 1;; esac
            if [ "$CNI_COMMAND" = ADD ]; then echo '{"cniVersion":"1.0.0","ips":[{"address":"10.1.2.3/24"}]}'; fi
            exit 0

            """.Replace("\r", ""));
        return (bin, log, Path.Combine(bin, "old-ipam"));
    }

    private string OldIpamConfig => $$$"""{"cniVersion":"1.1.0","name":"n","type":"fathom","device":"eth10","dataDir":"{{{Records}}}","ipam":{"type":"old-ipam"}}""";

    private string[] Calls(string log)
    {
        var calls = File.ReadAllLines(log);
        File.Delete(log);
        return calls;
    }

    private void RunOldIpam(string command, string bin, string container)
    {
        var env = Env(command, container);
        env["CNI_PATH"] = bin;
        InProcess.Run(new TestDatapath(), env, OldIpamConfig).Succeeded();
    }

    [Fact]
    public void The_bridged_version_is_remembered_so_later_runs_start_the_ipam_plugin_once()
    {
        var (bin, log, _) = OldIpam();
        RunOldIpam("ADD", bin, "c1");
        Assert.Equal(["ADD", "VERSION", "ADD"], Calls(log));

        // Each run is a new fathom process (a new IpamPlugin): the versions come from the dataDir.
        RunOldIpam("ADD", bin, "c2");
        RunOldIpam("DEL", bin, "c2");
        Assert.Equal(["ADD", "DEL"], Calls(log));
        Assert.Single(Directory.GetFiles(Path.Combine(Records, ".plugin-versions"), "old-ipam-*.json"));

        // GC and STATUS know from the entry that a 1.0.0 plugin lacks them: not even VERSION runs.
        var gc = new Dictionary<string, string> { ["CNI_COMMAND"] = "GC", ["CNI_PATH"] = bin };
        InProcess.Run(new TestDatapath(), gc, OldIpamConfig.Replace("\"ipam\"", "\"cni.dev/attachments\":[],\"ipam\"")).Succeeded();
        Assert.Equal(["DEL"], Calls(log)); // c1's record, released; no GC for a 1.0.0 plugin
    }

    [Fact]
    public void A_changed_plugin_file_is_asked_again()
    {
        var (bin, log, plugin) = OldIpam();
        RunOldIpam("ADD", bin, "c1");
        File.SetLastWriteTimeUtc(plugin, DateTime.UtcNow.AddMinutes(-5)); // as a package upgrade would leave it
        Calls(log);
        RunOldIpam("ADD", bin, "c2");
        Assert.Equal(["ADD", "VERSION", "ADD"], Calls(log));
        RunOldIpam("ADD", bin, "c3");
        Assert.Equal(["ADD"], Calls(log));
    }

    private string Entry() => Directory.GetFiles(Path.Combine(Records, ".plugin-versions"), "old-ipam-*.json").Single();

    [Theory]
    [InlineData("[\"1.1.0\"]")]   // says the config's version is spoken: the refusal is asked about
    [InlineData("[\"0.3.0\"]")]   // bridges to a version the plugin refuses: asked about as well
    [InlineData("[\"9.9.9\"]")]   // shares nothing with fathom: ignored, not trusted to refuse the call
    [InlineData("{ not json")]
    public void A_stale_or_corrupt_entry_costs_one_version_probe_and_is_rewritten(string versions)
    {
        var (bin, log, _) = OldIpam();
        RunOldIpam("ADD", bin, "c0");
        Calls(log);
        var entry = Entry();
        File.WriteAllText(entry, File.ReadAllText(entry).Replace("""
            [
                "0.3.1",
                "0.4.0",
                "1.0.0"
              ]
            """.Replace("\r", "").Trim(), versions));
        Assert.DoesNotContain("1.0.0", File.ReadAllText(entry));

        RunOldIpam("ADD", bin, "c1");
        Assert.Equal(["ADD", "VERSION", "ADD"], Calls(log));
        Assert.Contains("\"1.0.0\"", File.ReadAllText(entry));
        RunOldIpam("ADD", bin, "c2");
        Assert.Equal(["ADD"], Calls(log));
    }

    [Fact]
    public void A_plugin_reached_through_a_symlink_is_identified_by_the_file_it_points_to()
    {
        var (bin, log, plugin) = OldIpam();
        var links = Directory.CreateDirectory(Path.Combine(_dataDir.FullName, "links")).FullName;
        File.CreateSymbolicLink(Path.Combine(links, "old-ipam"), plugin);
        RunOldIpam("ADD", links, "c1");
        Assert.Equal(["ADD", "VERSION", "ADD"], Calls(log));

        // An upgrade replaces the target; the link itself does not change.
        Shell.Run("cp", ["-p", plugin, plugin + ".new"]).EnsureSuccess("copy the plugin");
        File.AppendAllText(plugin + ".new", "# a new release\n");
        Shell.Run("mv", [plugin + ".new", plugin]).EnsureSuccess("install the new plugin");
        RunOldIpam("ADD", links, "c2");
        Assert.Equal(["ADD", "VERSION", "ADD"], Calls(log));
    }

    [Fact]
    public void An_unwritable_cache_never_fails_a_command()
    {
        var (bin, log, _) = OldIpam();
        // A file where the cache's folder would be: every write fails, every run still works.
        Directory.CreateDirectory(Records);
        File.WriteAllText(Path.Combine(Records, ".plugin-versions"), "");
        RunOldIpam("ADD", bin, "c1");
        RunOldIpam("ADD", bin, "c2");
        Assert.Equal(["ADD", "VERSION", "ADD", "ADD", "VERSION", "ADD"], Calls(log));
    }

    [Theory]
    [MemberData(nameof(Versions.All), MemberType = typeof(Versions))]
    public void DEL_without_a_netns_releases_the_address(string version)
    {
        RequirePlugins();
        InProcess.Run(new TestDatapath(), Env("ADD"), HostLocal(version)).Succeeded();
        Assert.True(File.Exists(Lease("10.99.0.2")));
        // The runtime's DEL after the pod's netns is gone (kubelet's clean-up): no CNI_NETNS at all.
        var noNetns = Env("DEL");
        noNetns.Remove("CNI_NETNS");
        var datapath = new TestDatapath();
        InProcess.Run(datapath, noNetns, HostLocal(version)).Succeeded();
        Assert.Equal(["DEL"], datapath.Calls);
        Assert.Null(datapath.LastRequest!.NetnsPath);
        Assert.False(File.Exists(Lease("10.99.0.2")), "DEL without a netns must still release the address");
    }

    // An IPAM plugin of spec 1.1.0 that logs each call with its config and answers STATUS as told.
    private (string Bin, string Log) NewIpam(string statusAnswer = "")
    {
        var log = Path.Combine(_dataDir.FullName, "new-ipam-calls");
        var bin = ScriptPlugin("new-ipam", $$$"""
            input=$(cat)
            printf '%s %s\n' "$CNI_COMMAND" "$input" >> {{{log}}}
            case "$CNI_COMMAND" in
              VERSION) echo '{"cniVersion":"1.1.0","supportedVersions":["1.0.0","1.1.0"]}' ;;
              ADD) echo '{"cniVersion":"1.1.0","ips":[{"address":"10.1.2.3/24"}]}' ;;
              STATUS) {{{(statusAnswer.Length == 0 ? ":" : $"echo '{statusAnswer}'; exit 1")}}} ;;
            esac
            exit 0

            """.Replace("\r", ""));
        return (bin, log);
    }

    private string NewIpamConfig(string extra = "") =>
        $$$"""{"cniVersion":"1.1.0","name":"n","type":"fathom","device":"eth10","dataDir":"{{{Records}}}"{{{extra}}},"ipam":{"type":"new-ipam"}}""";

    [Fact]
    public void GC_reaches_an_ipam_plugin_of_1_1_0_with_the_valid_attachments()
    {
        var (bin, log) = NewIpam();
        var add = Env("ADD", "keep");
        add["CNI_PATH"] = bin;
        InProcess.Run(new TestDatapath(), add, NewIpamConfig()).Succeeded();
        File.Delete(log);

        var gc = new Dictionary<string, string> { ["CNI_COMMAND"] = "GC", ["CNI_PATH"] = bin };
        var valid = ""","cni.dev/valid-attachments":[{"containerID":"keep","ifname":"eth0"}]""";
        InProcess.Run(new TestDatapath(), gc, NewIpamConfig(valid)).Succeeded();
        // A plugin's versions are known before GC or STATUS reaches it (a pre-1.1 one would fail them oddly).
        var calls = File.ReadAllLines(log);
        Assert.Equal(["VERSION", "GC"], calls.Select(c => c.Split(' ')[0]));
        var call = calls[1];
        var sent = JsonNode.Parse(call["GC ".Length..])!;
        Assert.Equal("1.1.0", (string?)sent["cniVersion"]);
        Assert.Equal("keep", (string?)sent["cni.dev/valid-attachments"]![0]!["containerID"]);
    }

    [Theory]
    [InlineData("", null)]
    [InlineData("""{"cniVersion":"1.1.0","code":50,"msg":"the pool is empty"}""", 50)]
    [InlineData("""{"cniVersion":"1.1.0","code":51,"msg":"the lease server is unreachable"}""", 51)]
    public void STATUS_reaches_an_ipam_plugin_of_1_1_0_and_its_answer_passes_on(string answer, int? code)
    {
        var (bin, log) = NewIpam(answer);
        var status = new Dictionary<string, string> { ["CNI_COMMAND"] = "STATUS", ["CNI_PATH"] = bin };
        var datapath = new TestDatapath();
        var output = InProcess.Run(datapath, status, NewIpamConfig());
        Assert.Equal(["VERSION", "STATUS"], File.ReadAllLines(log).Select(c => c.Split(' ')[0]));
        if (code is null)
        {
            output.Succeeded();
            Assert.Equal(["STATUS"], datapath.Calls);
        }
        else
        {
            Assert.Equal(code, output.ErrorCode);
            Assert.Contains("new-ipam", (string)output.Json["msg"]!);
        }
    }
}
