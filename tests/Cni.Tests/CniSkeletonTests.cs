using System.Text.Json.Nodes;

namespace Fathom.Cni.Tests;

/// <summary>The entry point in-process: environment checks, the error JSON, the log file, chaining.</summary>
public sealed class CniSkeletonTests : IDisposable
{
    // Successful ADDs record their attachment (for GC): here, not in the machine's /var/lib/cni/fathom.
    private readonly DirectoryInfo _records = Directory.CreateTempSubdirectory("fathom-cni-skeleton-");

    public void Dispose() => _records.Delete(recursive: true);

    private string Config(string version, string extra = "") =>
        $$"""{"cniVersion":"{{version}}","name":"testnet","type":"fathom","device":"eth10","dataDir":"{{_records.FullName}}"{{extra}}}""";

    [Fact]
    public void VERSION_lists_the_supported_versions_without_reading_stdin()
    {
        var output = InProcess.Run(new TestDatapath(), new Dictionary<string, string> { ["CNI_COMMAND"] = "VERSION" }, "this is not read");
        output.Succeeded();
        Assert.True(JsonNode.DeepEquals(
            JsonNode.Parse("""{"cniVersion":"1.1.0","supportedVersions":["0.3.0","0.3.1","0.4.0","1.0.0","1.1.0"]}"""),
            output.Json));
        Assert.Equal(CniVersion.Supported, output.Json["supportedVersions"]!.AsArray().Select(v => (string)v!));
        Assert.EndsWith("\n", output.Stdout);
    }

    [Fact]
    public void Missing_CNI_COMMAND_is_error_4_and_says_what_fathom_is_on_stderr()
    {
        var stderr = new StringWriter();
        var output = InProcess.Run(new TestDatapath(), new Dictionary<string, string>(), Config("1.0.0"), stderr);
        Assert.Equal(4, output.ErrorCode);
        Assert.Contains("CNI_COMMAND", (string)output.Json["msg"]!);
        Assert.Contains("CNI fathom plugin", stderr.ToString());
    }

    [Theory]
    [MemberData(nameof(Versions.All), MemberType = typeof(Versions))]
    public void The_error_object_has_the_spec_shape_in_the_config_version(string version)
    {
        var output = InProcess.Run("ADD", Config(version, ""","mode":"nonesuch" """));
        Assert.Equal(1, output.ExitCode);
        var json = output.Json;
        Assert.Equal(version, (string)json["cniVersion"]!);
        Assert.Equal(7, (int)json["code"]!);
        Assert.Equal("unknown mode \"nonesuch\"", (string)json["msg"]!);
        Assert.Equal("fathom knows [test]", (string)json["details"]!);
        Assert.Equal(["cniVersion", "code", "msg", "details"], json.Select(p => p.Key));
        Assert.DoesNotContain(" at Fathom.", output.Stdout); // never a stack trace
    }

    [Fact]
    public void An_error_before_the_version_is_known_is_reported_in_the_latest_version()
    {
        var output = InProcess.Run("ADD", "{broken");
        Assert.Equal(6, output.ErrorCode);
        Assert.Equal("1.1.0", (string)output.Json["cniVersion"]!);
    }

    [Fact]
    public void An_error_after_an_unsupported_version_is_reported_in_the_latest_version()
    {
        var output = InProcess.Run("ADD", Config("0.2.0"));
        Assert.Equal(1, output.ErrorCode);
        Assert.Equal("1.1.0", (string)output.Json["cniVersion"]!);
    }

    [Fact]
    public void A_kernel_refusal_from_the_datapath_is_error_104_with_its_text()
    {
        var datapath = new TestDatapath { FailAdd = new Fathom.Netlink.NetlinkException(Fathom.Netlink.Errno.EBUSY, "moving eth10 to the pod") };
        var output = InProcess.Run("ADD", Config("1.0.0"), datapath);
        Assert.Equal(104, output.ErrorCode);
        Assert.Contains("moving eth10 to the pod", (string)output.Json["msg"]!);
    }

    [Fact]
    public void A_bug_is_error_199_with_its_message_only()
    {
        var datapath = new TestDatapath { FailAdd = new InvalidOperationException("sequence contains no elements") };
        var output = InProcess.Run("ADD", Config("1.0.0"), datapath);
        Assert.Equal(199, output.ErrorCode);
        Assert.Equal("sequence contains no elements", (string)output.Json["msg"]!);
        Assert.Equal("InvalidOperationException", (string)output.Json["details"]!);
    }

    [Fact]
    public void An_io_failure_is_error_5()
    {
        var datapath = new TestDatapath { FailAdd = new IOException("/proc/sys/net/ipv4/conf/eth0/rp_filter: read-only") };
        Assert.Equal(5, InProcess.Run("ADD", Config("1.0.0"), datapath).ErrorCode);
    }

    [Theory]
    [MemberData(nameof(Versions.All), MemberType = typeof(Versions))]
    public void ADD_prints_the_datapath_result_in_the_config_version(string version)
    {
        var datapath = new TestDatapath();
        var output = InProcess.Run("ADD", Config(version), datapath).Succeeded();
        Assert.Equal(version, (string)output.Json["cniVersion"]!);
        var iface = output.Json["interfaces"]![0]!;
        Assert.Equal("eth0", (string)iface["name"]!);
        Assert.Equal("/var/run/netns/ftest-cni-none", (string)iface["sandbox"]!);
        Assert.Equal(["ADD"], datapath.Calls);
        Assert.Equal("ctr-1", datapath.LastRequest!.ContainerId);
        Assert.Equal(["/usr/lib/cni"], datapath.LastRequest.CniPath);
    }

    [Fact]
    public void ADD_hands_the_request_to_the_datapath_fully_parsed()
    {
        var datapath = new TestDatapath();
        var env = InProcess.Env("ADD", "net1");
        env["CNI_ARGS"] = "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-0;K8S_POD_UID=u1;OTHER=x";
        env["CNI_PATH"] = "/opt/cni/bin::/usr/lib/cni";
        InProcess.Run(datapath, env, Config("1.1.0")).Succeeded();
        var request = datapath.LastRequest!;
        Assert.Equal(CniCommand.Add, request.Command);
        Assert.Equal("net1", request.IfName);
        Assert.Equal("/var/run/netns/ftest-cni-none", request.NetnsPath);
        Assert.Equal("default", request.Args.K8sPodNamespace);
        Assert.Equal("web-0", request.Args.K8sPodName);
        Assert.Equal("u1", request.Args.K8sPodUid);
        Assert.Equal("x", request.Args.Extra["OTHER"]);
        Assert.Equal(["/opt/cni/bin", "/usr/lib/cni"], request.CniPath);
        Assert.Equal("eth10", request.Config.OptionalString("device"));
        Assert.Equal("test", request.Mode); // the table's default: the config names no mode
    }

    [Theory]
    [MemberData(nameof(Versions.All), MemberType = typeof(Versions))]
    public void ADD_in_a_chain_appends_to_prevResult(string version)
    {
        // CNI spec 1.1 §"Chained plugins": the previous interfaces stay first; our IP points at our interface.
        var prev = """
            ,"prevResult":{"cniVersion":"1.0.0",
              "interfaces":[{"name":"br0","mac":"02:00:00:00:00:aa"}],
              "ips":[{"address":"192.168.1.2/24","interface":0}],
              "dns":{"nameservers":["192.168.1.1"]}}
            """;
        var datapath = new TestDatapath();
        var output = InProcess.Run("ADD", Config(version, prev), datapath).Succeeded();
        var json = output.Json;
        Assert.Equal(["br0", "eth0"], json["interfaces"]!.AsArray().Select(i => (string)i!["name"]!));
        Assert.Equal(0, (int)json["ips"]![0]!["interface"]!);
        Assert.Equal("192.168.1.1", (string)json["dns"]!["nameservers"]![0]!);
    }

    [Fact]
    public void Append_shifts_interface_indexes()
    {
        var prev = new CniResult { Interfaces = [new("a"), new("b")], Ips = [new(Fathom.Netlink.IpPrefix.Parse("10.0.0.1/24"), null, 1)] };
        var own = new CniResult { Interfaces = [new("eth0")], Ips = [new(Fathom.Netlink.IpPrefix.Parse("10.0.1.1/24"), null, 0), new(Fathom.Netlink.IpPrefix.Parse("10.0.2.1/24"))] };
        var merged = CniCommands.Append(prev, own);
        Assert.Equal(["a", "b", "eth0"], merged.Interfaces.Select(i => i.Name));
        Assert.Equal([1, 2, null], merged.Ips.Select(i => i.Interface));
        Assert.Equal(2, prev.Interfaces.Count); // prevResult itself is untouched
    }

    [Fact]
    public void The_config_dns_goes_into_the_result()
    {
        var output = InProcess.Run("ADD", Config("1.0.0", ""","dns":{"nameservers":["10.0.0.2"],"search":["a.b"]}"""));
        Assert.Equal("10.0.0.2", (string)output.Succeeded().Json["dns"]!["nameservers"]![0]!);
    }

    [Theory]
    [MemberData(nameof(Versions.All), MemberType = typeof(Versions))]
    public void DEL_needs_no_netns_and_prints_nothing(string version)
    {
        var datapath = new TestDatapath();
        var env = InProcess.Env("DEL");
        env.Remove("CNI_NETNS");
        var output = InProcess.Run(datapath, env, Config(version)).Succeeded();
        Assert.Equal("", output.Stdout);
        Assert.Equal(["DEL"], datapath.Calls);
        Assert.Null(datapath.LastRequest!.NetnsPath);
    }

    [Fact]
    public void DEL_passes_prevResult_to_the_datapath()
    {
        var datapath = new TestDatapath();
        InProcess.Run("DEL", Config("1.0.0", ""","prevResult":{"cniVersion":"1.0.0","interfaces":[{"name":"eth0"}]}"""), datapath).Succeeded();
        Assert.Equal("eth0", datapath.PrevResultSeen!.Interfaces[0].Name);
    }

    [Theory]
    [MemberData(nameof(Versions.WithCheck), MemberType = typeof(Versions))]
    public void CHECK_runs_with_prevResult(string version)
    {
        var datapath = new TestDatapath();
        InProcess.Run("CHECK", Config(version, ""","prevResult":{"cniVersion":"1.0.0","interfaces":[{"name":"eth0"}]}"""), datapath).Succeeded();
        Assert.Equal(["CHECK"], datapath.Calls);
    }

    [Theory]
    [MemberData(nameof(Versions.WithCheck), MemberType = typeof(Versions))]
    public void CHECK_without_prevResult_is_error_7(string version)
    {
        var output = InProcess.Run("CHECK", Config(version));
        Assert.Equal(7, output.ErrorCode);
        Assert.Contains("prevResult", (string)output.Json["msg"]!);
    }

    [Fact]
    public void CHECK_reports_what_the_datapath_found_drifted()
    {
        var datapath = new TestDatapath { FailCheck = new CniException(CniErrorCode.CheckFailed, "eth0 has MAC 02:00:00:00:00:02, prevResult says 02:00:00:00:00:01") };
        var output = InProcess.Run("CHECK", Config("1.0.0", ""","prevResult":{"interfaces":[{"name":"eth0"}]}"""), datapath);
        Assert.Equal(107, output.ErrorCode);
        Assert.Contains("02:00:00:00:00:02", (string)output.Json["msg"]!);
    }

    [Fact]
    public void STATUS_reports_the_datapath_problem()
    {
        InProcess.Run("STATUS", Config("1.1.0")).Succeeded();
        var datapath = new TestDatapath { StatusResult = new CniStatus(CniErrorCode.NotAvailable, "no ENI left") };
        var output = InProcess.Run(datapath, new Dictionary<string, string> { ["CNI_COMMAND"] = "STATUS" }, Config("1.1.0"));
        Assert.Equal(50, output.ErrorCode);
        Assert.Equal("no ENI left", (string)output.Json["msg"]!);
    }

    [Fact]
    public void GC_needs_only_CNI_PATH_and_passes_the_attachments()
    {
        var datapath = new TestDatapath();
        var env = new Dictionary<string, string> { ["CNI_COMMAND"] = "GC", ["CNI_PATH"] = "/usr/lib/cni" };
        InProcess.Run(datapath, env, Config("1.1.0", ""","cni.dev/attachments":[{"containerID":"c1","ifname":"eth0"}]""")).Succeeded();
        Assert.Equal(["GC"], datapath.Calls);
        Assert.Equal([("c1", "eth0")], datapath.Attachments!);
        Assert.Equal("", datapath.LastRequest?.ContainerId ?? "");
    }

    [Theory]
    [InlineData("GC")]
    [InlineData("STATUS")]
    public void GC_and_STATUS_do_not_read_CNI_ARGS(string command)
    {
        // As docs/cni.md's environment table says: only ADD, DEL and CHECK take CNI_ARGS.
        var env = new Dictionary<string, string> { ["CNI_COMMAND"] = command, ["CNI_PATH"] = "/usr/lib/cni", ["CNI_ARGS"] = "FOO=bar;junk" };
        InProcess.Run(new TestDatapath(), env, Config("1.1.0")).Succeeded();
    }

    [Fact]
    public void The_log_file_gets_one_json_line_per_invocation()
    {
        var dir = Directory.CreateTempSubdirectory("fathom-cni-log-");
        try
        {
            var log = Path.Combine(dir.FullName, "cni.log");
            var extra = $$""","logFile":"{{log}}" """;
            InProcess.Run("ADD", Config("1.0.0", extra)).Succeeded();
            InProcess.Run("DEL", Config("1.0.0", extra), new TestDatapath { FailDelete = new CniException(ModeErrors.DeviceBusy, "eth10 is taken on the host") });
            var lines = File.ReadAllLines(log);
            Assert.Equal(2, lines.Length);
            var add = JsonNode.Parse(lines[0])!;
            Assert.Equal("ADD", (string)add["command"]!);
            Assert.Equal("ctr-1", (string)add["container"]!);
            Assert.Equal("eth0", (string)add["ifname"]!);
            Assert.Equal("ok", (string)add["outcome"]!);
            Assert.True((double)add["durationMs"]! >= 0);
            Assert.True(DateTimeOffset.TryParse((string)add["time"]!, out _));
            Assert.Equal("eth0", (string)add["result"]!["interfaces"]![0]!["name"]!);
            // Where the time went, step by step (CniSteps): the skeleton's and the handler's own.
            Assert.Equal(["read the environment and stdin", "parse the config", "lock the attachment", "record the attachment", "write the result"],
                add["steps"]!.AsArray().Select(s => (string)s!["step"]!));
            Assert.All(add["steps"]!.AsArray(), s => Assert.True((double)s!["ms"]! >= 0));
            var del = JsonNode.Parse(lines[1])!;
            Assert.Equal(["read the environment and stdin", "parse the config", "lock the attachment"], del["steps"]!.AsArray().Select(s => (string)s!["step"]!));
            Assert.Equal("error", (string)del["outcome"]!);
            Assert.Equal(101, (int)del["code"]!);
            Assert.Equal("eth10 is taken on the host", (string)del["msg"]!);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Fact]
    public void A_request_refused_after_the_config_was_read_is_logged_too()
    {
        var dir = Directory.CreateTempSubdirectory("fathom-cni-log-");
        try
        {
            var log = Path.Combine(dir.FullName, "cni.log");
            var env = InProcess.Env("ADD", "bad/name");
            InProcess.Run(new TestDatapath(), env, Config("1.0.0", $$""","logFile":"{{log}}" """));
            var line = JsonNode.Parse(Assert.Single(File.ReadAllLines(log)))!;
            Assert.Equal("error", (string)line["outcome"]!);
            Assert.Equal(4, (int)line["code"]!);
            Assert.Equal("bad/name", (string)line["ifname"]!);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Fact]
    public void A_log_file_that_cannot_be_written_does_not_fail_the_plugin()
    {
        InProcess.Run("ADD", Config("1.0.0", ""","logFile":"/proc/version/nope/x.log" """)).Succeeded();
        InProcess.Run("ADD", Config("1.0.0", ""","logFile":"" """)).Succeeded();
    }
}
