using System.Text.Json.Nodes;

namespace Fathom.Cni.Tests;

/// <summary>
/// GC with Debian's real host-local (1.1.1, which has no GC of its own): fathom records each
/// attachment on ADD and, on GC, releases the ones <c>cni.dev/valid-attachments</c> does not list
/// by running host-local's DEL with the recorded config. In-process with the recording datapath,
/// as the neighbouring IPAM tests: IPAM plugins never enter a netns, so no root is needed.
/// host-local's leases and fathom's records each live in a temporary directory.
/// </summary>
public sealed class GcTests : IDisposable
{
    private const string CniDir = "/usr/lib/cni";
    private readonly DirectoryInfo _leases = Directory.CreateTempSubdirectory("fathom-gc-leases-");
    private readonly DirectoryInfo _records = Directory.CreateTempSubdirectory("fathom-gc-records-");

    public void Dispose()
    {
        _leases.Delete(recursive: true);
        _records.Delete(recursive: true);
    }

    // Three addresses to hand out (.2–.4), so a fourth ADD only succeeds once one is released.
    private string Config(string version, string extra = "", string ipamType = "host-local") => $$$"""
        {"cniVersion":"{{{version}}}","name":"gcnet","type":"fathom","device":"eth10","dataDir":"{{{_records.FullName}}}"{{{extra}}},
         "ipam":{"type":"{{{ipamType}}}","dataDir":"{{{_leases.FullName}}}",
                 "ranges":[[{"subnet":"10.96.0.0/24","rangeStart":"10.96.0.2","rangeEnd":"10.96.0.4","gateway":"10.96.0.1"}]]}}
        """;

    private static string Valid(params string[] containers) =>
        $",\"cni.dev/valid-attachments\":[{string.Join(',', containers.Select(c => $$"""{"containerID":"{{c}}","ifname":"eth0"}"""))}]";

    private static Dictionary<string, string> Env(string command, string container, string cniPath = CniDir)
    {
        var env = InProcess.Env(command);
        env["CNI_CONTAINERID"] = container;
        env["CNI_PATH"] = cniPath;
        return env;
    }

    private static Dictionary<string, string> GcEnv(string cniPath = CniDir) =>
        new() { ["CNI_COMMAND"] = "GC", ["CNI_PATH"] = cniPath };

    // host-local's lease files: address → the container holding it.
    private Dictionary<string, string> Leases()
    {
        var dir = Path.Combine(_leases.FullName, "gcnet");
        return Directory.Exists(dir)
            ? Directory.GetFiles(dir, "10.96.*").ToDictionary(f => Path.GetFileName(f), f => File.ReadAllLines(f)[0])
            : [];
    }

    private string RecordOf(string container) => Path.Combine(_records.FullName, "gcnet", $"{container}-eth0.json");

    private string[] Records() =>
        [.. Directory.GetFiles(Path.Combine(_records.FullName, "gcnet")).Select(f => Path.GetFileName(f))
            .Where(f => !f.EndsWith(".lock", StringComparison.Ordinal)).Order(StringComparer.Ordinal)];

    private static void RequirePlugins() =>
        Assert.True(File.Exists($"{CniDir}/host-local"), "needs containernetworking-plugins in /usr/lib/cni (scripts/prereqs.sh)");

    [Theory]
    [MemberData(nameof(Versions.All), MemberType = typeof(Versions))]
    public void GC_releases_the_leases_of_attachments_the_runtime_no_longer_lists(string addVersion)
    {
        RequirePlugins();
        foreach (var c in (string[])["a", "b", "c"])
            InProcess.Run(new TestDatapath(), Env("ADD", c), Config(addVersion)).Succeeded();
        Assert.Equal(["a", "b", "c"], Leases().Values.Order());
        Assert.Equal(["a-eth0.json", "b-eth0.json", "c-eth0.json"], Records());
        // The range is full.
        Assert.Equal(106, InProcess.Run(new TestDatapath(), Env("ADD", "d"), Config(addVersion)).ErrorCode);

        // Records of any version are released by a 1.1.0 GC, each with the config it was added with.
        var datapath = new TestDatapath();
        InProcess.Run(datapath, GcEnv(), Config("1.1.0", Valid("a"))).Succeeded();
        Assert.Equal(["a"], Leases().Values);
        Assert.Equal(["a-eth0.json"], Records());
        // Each stale attachment went through the datapath's DEL without a netns, then its GC ran.
        Assert.Equal(["DEL", "DEL", "GC"], datapath.Calls);
        Assert.Equal("c", datapath.LastRequest!.ContainerId);
        Assert.Equal("eth0", datapath.LastRequest.IfName);
        Assert.Null(datapath.LastRequest.NetnsPath);
        Assert.Equal("10.96.0.4/24", datapath.PrevResultSeen!.Ips.Single().Address.ToString());
        Assert.Equal([("a", "eth0")], datapath.Attachments!);

        // A freed address goes to the next pod.
        var added = InProcess.Run(new TestDatapath(), Env("ADD", "d"), Config(addVersion)).Succeeded();
        Assert.Contains((string)added.Json["ips"]![0]!["address"]!, (string[])["10.96.0.3/24", "10.96.0.4/24"]);

        // A second GC (d is listed now) changes nothing.
        var again = new TestDatapath();
        InProcess.Run(again, GcEnv(), Config("1.1.0", Valid("a", "d"))).Succeeded();
        InProcess.Run(again, GcEnv(), Config("1.1.0", Valid("a", "d"))).Succeeded();
        Assert.Equal(["GC", "GC"], again.Calls);
        Assert.Equal(["a", "d"], Leases().Values.Order());
        Assert.Equal(["a-eth0.json", "d-eth0.json"], Records());
    }

    [Fact]
    public void GC_reads_the_list_under_either_spec_name_and_keeps_what_either_lists()
    {
        RequirePlugins();
        foreach (var c in (string[])["a", "b", "c"])
            InProcess.Run(new TestDatapath(), Env("ADD", c), Config("1.1.0")).Succeeded();
        // libcni sends both keys (containernetworking/cni#1101); older runtimes only cni.dev/attachments.
        var extra = Valid("a") + ""","cni.dev/attachments":[{"containerID":"b","ifname":"eth0"}]""";
        InProcess.Run(new TestDatapath(), GcEnv(), Config("1.1.0", extra)).Succeeded();
        Assert.Equal(["a", "b"], Leases().Values.Order());
        Assert.Equal(["a-eth0.json", "b-eth0.json"], Records());
    }

    [Fact]
    public void An_attachment_on_another_interface_of_a_listed_container_is_still_released()
    {
        RequirePlugins();
        InProcess.Run(new TestDatapath(), Env("ADD", "a"), Config("1.1.0")).Succeeded();
        var net1 = Env("ADD", "a");
        net1["CNI_IFNAME"] = "net1";
        InProcess.Run(new TestDatapath(), net1, Config("1.1.0")).Succeeded();
        Assert.Equal(2, Leases().Count);

        InProcess.Run(new TestDatapath(), GcEnv(), Config("1.1.0", Valid("a"))).Succeeded();
        Assert.Equal(["a-eth0.json"], Records());
        var lease = Assert.Single(Leases());
        Assert.Equal("eth0", File.ReadAllLines(Path.Combine(_leases.FullName, "gcnet", lease.Key))[1]);
    }

    [Theory]
    [MemberData(nameof(Versions.All), MemberType = typeof(Versions))]
    public void DEL_removes_the_record_and_a_repeated_DEL_finds_none(string version)
    {
        RequirePlugins();
        InProcess.Run(new TestDatapath(), Env("ADD", "a"), Config(version)).Succeeded();
        var record = JsonNode.Parse(File.ReadAllText(RecordOf("a")))!;
        Assert.Equal("gcnet", (string)record["networkName"]!);
        Assert.Equal("a", (string)record["containerID"]!);
        Assert.Equal("eth0", (string)record["ifname"]!);
        Assert.Equal(Config(version), System.Text.Encoding.UTF8.GetString(Convert.FromBase64String((string)record["config"]!)));
        Assert.Equal("10.96.0.2/24", (string)record["result"]!["ips"]![0]!["address"]!);

        InProcess.Run(new TestDatapath(), Env("DEL", "a"), Config(version)).Succeeded();
        Assert.False(File.Exists(RecordOf("a")));
        Assert.Empty(Leases());
        InProcess.Run(new TestDatapath(), Env("DEL", "a"), Config(version)).Succeeded();
    }

    [Fact]
    public void A_DEL_that_fails_keeps_the_record_so_GC_can_finish_it()
    {
        RequirePlugins();
        InProcess.Run(new TestDatapath(), Env("ADD", "a"), Config("1.1.0")).Succeeded();
        var failing = new TestDatapath { FailDelete = new CniException(ModeErrors.DeviceBusy, "eth10 is taken on the host") };
        Assert.Equal(101, InProcess.Run(failing, Env("DEL", "a"), Config("1.1.0")).ErrorCode);
        Assert.Empty(Leases());
        Assert.True(File.Exists(RecordOf("a")));

        // The runtime gave up on the pod; GC runs the datapath's DEL again and drops the record.
        var gc = new TestDatapath();
        InProcess.Run(gc, GcEnv(), Config("1.1.0", Valid())).Succeeded();
        Assert.Equal(["DEL", "GC"], gc.Calls);
        Assert.False(File.Exists(RecordOf("a")));
    }

    [Fact]
    public void A_corrupt_record_is_named_in_the_error_and_left_while_the_others_are_released()
    {
        RequirePlugins();
        foreach (var c in (string[])["a", "b", "c"])
            InProcess.Run(new TestDatapath(), Env("ADD", c), Config("1.1.0")).Succeeded();
        var corrupt = RecordOf("broken");
        File.WriteAllText(corrupt, """{"kind":"fathom-attachment-v1","networkName":"gcnet","contai""");

        var output = InProcess.Run(new TestDatapath(), GcEnv(), Config("1.1.0", Valid("a")));
        Assert.Equal(6, output.ErrorCode);
        Assert.Contains(corrupt, (string)output.Json["msg"]!);
        Assert.Equal("1.1.0", (string)output.Json["cniVersion"]!);
        Assert.Equal(["a"], Leases().Values);
        Assert.Equal(["a-eth0.json", "broken-eth0.json"], Records());
        Assert.True(File.Exists(corrupt), "an unreadable record is never deleted unseen");
    }

    [Fact]
    public void One_attachment_that_cannot_be_released_does_not_keep_the_others()
    {
        RequirePlugins();
        // b's IPAM plugin allocates but refuses every DEL.
        var bin = Directory.CreateDirectory(Path.Combine(_leases.FullName, "bin"));
        var stubborn = Path.Combine(bin.FullName, "stubborn-ipam");
        File.WriteAllText(stubborn, """
            #!/bin/sh
            cat >/dev/null
            if [ "$CNI_COMMAND" = DEL ]; then echo '{"cniVersion":"1.0.0","code":11,"msg":"the lease server is down"}'; exit 1; fi
            echo '{"cniVersion":"1.0.0","ips":[{"address":"10.95.0.9/24"}]}'
            """.Replace("\r", ""));
        File.SetUnixFileMode(stubborn, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var cniPath = $"{bin.FullName}:{CniDir}";

        InProcess.Run(new TestDatapath(), Env("ADD", "a", cniPath), Config("1.0.0")).Succeeded();
        InProcess.Run(new TestDatapath(), Env("ADD", "b", cniPath), Config("1.0.0", ipamType: "stubborn-ipam")).Succeeded();
        InProcess.Run(new TestDatapath(), Env("ADD", "c", cniPath), Config("1.0.0")).Succeeded();

        var output = InProcess.Run(new TestDatapath(), GcEnv(cniPath), Config("1.1.0", Valid()));
        Assert.Equal(11, output.ErrorCode); // the plugin's own spec code passes on
        Assert.Contains("b/eth0", (string)output.Json["msg"]!);
        Assert.Contains("the lease server is down", (string)output.Json["msg"]!);
        Assert.Empty(Leases());
        Assert.Equal(["b-eth0.json"], Records());
    }

    [Fact]
    public void An_ADD_that_could_never_be_recorded_is_refused_before_it_attaches()
    {
        RequirePlugins();
        // /proc/version is a file: no folder can be made under it, whoever runs the test.
        var config = Config("1.0.0").Replace(_records.FullName, "/proc/version");
        var datapath = new TestDatapath();
        var output = InProcess.Run(datapath, Env("ADD", "a"), config);
        Assert.Equal(5, output.ErrorCode);
        Assert.Contains("/proc/version/gcnet", (string)output.Json["msg"]!);
        Assert.Empty(datapath.Calls); // nothing attached, nothing to undo
        Assert.Empty(Leases());
    }

    [Fact]
    public void An_ADD_whose_record_write_fails_after_the_attach_is_undone_by_the_datapath()
    {
        RequirePlugins();
        // Passes the preflight, then a directory takes the record's name: rename(2) cannot replace it.
        var datapath = new TestDatapath { BeforeRecord = () => Directory.CreateDirectory(RecordOf("a")) };
        var output = InProcess.Run(datapath, Env("ADD", "a"), Config("1.0.0"));
        Assert.Equal(5, output.ErrorCode);
        Assert.Contains(RecordOf("a"), (string)output.Json["msg"]!);
        Assert.Equal(["ADD", "UNDO"], datapath.Calls); // the datapath's own rollback, not a DEL
        Assert.Empty(Leases()); // the allocation released
        Directory.Delete(RecordOf("a"));
        Assert.Empty(Records());
    }

    [Fact]
    public void A_failed_ADD_leaves_no_record()
    {
        RequirePlugins();
        var datapath = new TestDatapath { FailAdd = new CniException(ModeErrors.DeviceNotFound, "device \"eth10\" not found on the host") };
        Assert.Equal(100, InProcess.Run(datapath, Env("ADD", "a"), Config("1.1.0")).ErrorCode);
        Assert.Empty(Records()); // the folder is made before the attach (the record must be writable), empty
    }

    [Theory]
    [InlineData(""","dataDir":"relative/dir" """, "dataDir")]
    [InlineData(""","dataDir":7""", "dataDir")]
    [InlineData(""","cni.dev/valid-attachments":{}""", "cni.dev/valid-attachments")]
    [InlineData(""","cni.dev/valid-attachments":[{"containerID":"a"}]""", "cni.dev/valid-attachments[0]")]
    public void Malformed_gc_fields_are_error_7_naming_the_field(string extra, string field)
    {
        var output = InProcess.Run(new TestDatapath(), GcEnv(), $$"""{"cniVersion":"1.1.0","name":"gcnet","type":"fathom"{{extra}}}""");
        Assert.Equal(7, output.ErrorCode);
        Assert.Contains($"\"{field}\"", (string)output.Json["msg"]!);
    }

    [Fact]
    public void DataDir_defaults_beside_libcnis_cache()
    {
        var config = NetworkConfig.Parse("""{"cniVersion":"1.1.0","name":"n","type":"fathom"}"""u8.ToArray());
        Assert.Equal("/var/lib/cni/fathom", config.DataDir);
        Assert.Equal("/var/lib/cni/fathom/n", AttachmentStore.For(config).Folder);
    }
}
