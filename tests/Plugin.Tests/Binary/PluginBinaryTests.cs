using Fathom.Cni;
using Fathom.Cni.Tests;
using Fathom.Plugin.Tests.Harness;
using Fathom.Testing;
using System.Text.Json.Nodes;

namespace Fathom.Plugin.Tests.Binary;

/// <summary>The AOT binary as a runtime sees it: no root needed, nothing reaches the kernel.</summary>
public sealed class PluginBinaryTests
{
    [Theory]
    [MemberData(nameof(MalformedInput.Cases), MemberType = typeof(MalformedInput))]
    public void Malformed_input_fails_with_its_exact_code(string name, string version)
    {
        var input = MalformedInput.Named(name);
        var output = CniExec.Run(input.Environment(), input.Config(version));
        var stderr = output.Stderr;
        Assert.Equal(1, output.ExitCode);
        var json = output.Body;
        Assert.Equal(input.Code, (int)json["code"]!);
        Assert.False(string.IsNullOrWhiteSpace((string?)json["msg"]));
        Assert.NotNull((string?)json["cniVersion"]);
        Assert.DoesNotContain("   at ", output.Stdout + stderr); // never a stack trace
        if (!input.Name.Contains("CNI_COMMAND", StringComparison.Ordinal)) Assert.Equal("", stderr);
    }

    // Refusals the underlay datapath makes before it touches any device, for every version.
    public static TheoryData<string, string, string, string, int> MissingNetns()
    {
        var data = new TheoryData<string, string, string, string, int>();
        foreach (var v in CniVersion.Supported)
        {
            data.Add(v, "ADD", "/var/run/netns/ftest-cni-none", """ "device":"ftest-nodev" """, 102);
            if (CniVersion.AtLeast(v, "0.4.0"))
                data.Add(v, "CHECK", "/var/run/netns/ftest-cni-none",
                    $$$""" "device":"ftest-nodev","prevResult":{"cniVersion":"{{{v}}}","interfaces":[{"name":"eth0","sandbox":"/var/run/netns/ftest-cni-none"}]} """, 102);
        }
        return data;
    }

    // A fresh netns (FRESH stands for it): real, and nothing is found to move. Opening a netlink
    // socket in it takes setns(2), which needs CAP_SYS_ADMIN: root only. (The plugin's own netns,
    // /proc/self/ns/net, is refused before the device is looked up: see HostileInputBinaryTests.)
    public static TheoryData<string, string, string, string, int> DeviceNotFound()
    {
        var data = new TheoryData<string, string, string, string, int>();
        foreach (var v in CniVersion.Supported)
        {
            data.Add(v, "ADD", "FRESH", """ "device":"ftest-nodev" """, 100);
            data.Add(v, "ADD", "FRESH", """ "hwaddr":"02:00:00:00:0f:99" """, 100);
            data.Add(v, "ADD", "FRESH", """ "kernelpath":"/sys/devices/pci0000:00/0000:00:99.0" """, 100);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(MissingNetns))]
    public void A_missing_netns_fails_with_102_naming_it(string version, string command, string netns, string fields, int code) =>
        AssertRefusal(version, command, netns, fields, code);

    [PrivilegedTheory]
    [MemberData(nameof(DeviceNotFound))]
    public void A_device_not_on_the_host_fails_with_100_naming_it(string version, string command, string netns, string fields, int code)
    {
        Privileged.Require("ip");
        using var pod = TestNetns.Create("nodev");
        AssertRefusal(version, command, netns.Replace("FRESH", pod.Path, StringComparison.Ordinal), fields, code);
    }

    private static void AssertRefusal(string version, string command, string netns, string fields, int code)
    {
        var env = CniCall.Env(command);
        env["CNI_NETNS"] = netns;
        var output = CniExec.Run(env, $$"""{"cniVersion":"{{version}}","name":"n","type":"fathom",{{fields.Trim()}}}""");
        Assert.Equal(code, output.ErrorCode);
        Assert.Equal(version, (string)output.Body["cniVersion"]!);
        var msg = (string)output.Body["msg"]!;
        Assert.True(msg.Contains("ftest-", StringComparison.Ordinal) || msg.Contains("02:00:00:00:0f:99", StringComparison.Ordinal) || msg.Contains("00:99.0", StringComparison.Ordinal),
            $"the message names the device or netns at fault: {msg}");
    }

    [Fact]
    public void VERSION_answers_without_stdin_and_exits_0()
    {
        var output = CniExec.Run(new Dictionary<string, string> { ["CNI_COMMAND"] = "VERSION" }, "").EnsureSuccess();
        Assert.True(JsonNode.DeepEquals(
            JsonNode.Parse("""{"cniVersion":"1.1.0","supportedVersions":["0.3.0","0.3.1","0.4.0","1.0.0","1.1.0"]}"""),
            output.Body));
    }

    /// <summary>
    /// The runtime's start-up probe of cgroup limits is answered "no cgroup" inside the binary
    /// (src/Plugin/Native/no-cgroup-probe.c): the plugin never reads mountinfo, which grows with
    /// every pod's netns on a node. strace sees every file the process opens; VERSION still answers.
    /// </summary>
    [PrivilegedFact("strace")]
    public void The_plugin_never_reads_mountinfo_or_the_cgroup_files()
    {
        Privileged.Require("strace");
        CniExec.RequireBuilt();
        var trace = Path.Combine(Path.GetTempPath(), $"{TestNetns.Prefix}strace-{Environment.ProcessId}.txt");
        try
        {
            var psi = new System.Diagnostics.ProcessStartInfo("strace", ["-f", "-qq", "-e", "trace=openat,open,statfs", "-o", trace, CniExec.Fathom])
            {
                RedirectStandardInput = true,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            psi.Environment["CNI_COMMAND"] = "VERSION";
            using var process = System.Diagnostics.Process.Start(psi)!;
            process.StandardInput.Close();
            var stdout = process.StandardOutput.ReadToEnd();
            process.WaitForExit();
            Assert.Equal(0, process.ExitCode);
            Assert.Contains("\"supportedVersions\"", stdout);
            var opened = File.ReadAllText(trace);
            Assert.Contains("openat(", opened); // the trace did see the process's opens
            foreach (var probe in new[] { "/proc/self/mountinfo", "/proc/self/cgroup", "/sys/fs/cgroup" })
                Assert.DoesNotContain(probe, opened);
            Assert.DoesNotMatch(@"\.so\b", opened); // static: no loader, no library at start
        }
        finally
        {
            File.Delete(trace);
        }
    }

    /// <summary>
    /// The plugin is a static executable (src/Plugin/Fathom.Plugin.csproj): no program interpreter
    /// (PT_INTERP) in its ELF program headers, so no ld.so maps and binds libraries at every start.
    /// </summary>
    [Fact]
    public void The_plugin_is_a_static_executable()
    {
        var elf = File.ReadAllBytes(CniExec.Fathom);
        Assert.Equal([0x7f, (byte)'E', (byte)'L', (byte)'F'], elf[..4]);
        var headers = BitConverter.ToInt64(elf, 0x20);
        var size = BitConverter.ToUInt16(elf, 0x36);
        var count = BitConverter.ToUInt16(elf, 0x38);
        const uint Interpreter = 3; // PT_INTERP
        for (var i = 0; i < count; i++)
            Assert.NotEqual(Interpreter, BitConverter.ToUInt32(elf, (int)headers + i * size));
    }

    [Fact]
    public void Output_to_a_shared_file_is_appended_not_overwritten()
    {
        // A shell redirect hands both runs one file description: each write must land at its
        // shared offset (write(2)), not at an offset of the process's own (pwrite).
        CniExec.RequireBuilt();
        var file = Path.GetTempFileName();
        try
        {
            var script = $"{{ CNI_COMMAND=VERSION '{CniExec.Fathom}'; CNI_COMMAND=VERSION '{CniExec.Fathom}'; }} > '{file}'";
            Shell.Run("sh", ["-c", script]).EnsureSuccess("two VERSION runs into one file");
            var lines = File.ReadAllLines(file);
            Assert.Equal(2, lines.Length);
            Assert.All(lines, l => Assert.StartsWith("{\"cniVersion\":\"1.1.0\"", l));
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public void Without_CNI_COMMAND_it_says_what_it_is_on_stderr()
    {
        var output = CniExec.Run(new Dictionary<string, string>(), "");
        var stderr = output.Stderr;
        Assert.Equal(4, output.ErrorCode);
        Assert.Contains("CNI fathom plugin", stderr);
        Assert.Contains("1.1.0", stderr);
    }

    [Fact]
    public void An_error_is_the_spec_object_in_the_config_version()
    {
        var env = CniCall.Env("ADD");
        var output = CniExec.Run(env, """{"cniVersion":"0.4.0","name":"n","type":"fathom","mode":"warp"}""");
        Assert.Equal(1, output.ExitCode);
        Assert.True(JsonNode.DeepEquals(
            JsonNode.Parse("""{"cniVersion":"0.4.0","code":7,"msg":"unknown mode \"warp\"","details":"fathom knows [host-gw, overlay, shared, underlay]"}"""),
            output.Body), output.Stdout);
    }
}
