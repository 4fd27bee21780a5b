using System.Text;
using System.Text.Json.Nodes;
using CsCheck;
using Fathom.Cni.Tests;
using Fathom.Plugin.Tests.Harness;

namespace Fathom.Plugin.Tests.Binary;

/// <summary>
/// Issue 8 through the AOT binary: input that is not text, a pod netns that is the plugin's own,
/// refusals at every stage of ADD, a FIFO where a record goes, and a sample of the hostile-input
/// generator — each ending in a documented error (never 199, never a signal, never a hang) and,
/// on the kernel, with the host device exactly as it was (name, alias, MTU, up state, addresses).
/// </summary>
public sealed class HostileInputBinaryTests
{
    // "1.1" and a stray byte; an escaped surrogate without its pair.
    private static readonly byte[][] BadText = [[0x31, 0x2e, 0x31, 0xff], "\\ud800"u8.ToArray()];

    private static byte[] WithCniVersion(byte[] version) =>
        [.. "{\"cniVersion\":\""u8, .. version, .. "\",\"name\":\"n\",\"type\":\"fathom\",\"device\":\"ftest-nodev\"}"u8];

    [Theory]
    [InlineData("ADD")]
    [InlineData("DEL")]
    [InlineData("CHECK")]
    [InlineData("GC")]
    public void A_cniVersion_that_is_not_text_is_error_6_not_an_abort(string command)
    {
        foreach (var bad in BadText)
        {
            var output = CniExec.RunBytes(CniCall.Env(command), WithCniVersion(bad));
            Assert.True(output.ExitCode == 1, $"exit {output.ExitCode} (> 128 is a signal): {output}");
            Assert.Equal(6, output.ErrorCode);
            Assert.Contains("\"cniVersion\"", output.ErrorMessage);
            Assert.DoesNotContain("   at ", output.Stdout + output.Stderr);
        }
    }

    // ---- the kernel: the host device is never changed by a refusal ----

    private static void OnBed(Action<UnderlayBed, string> test)
    {
        Privileged.Require("ip");
        using var bin = new CniBinDir();
        using var bed = UnderlayBed.Create();
        // An address and an alias of the operator's own: a refusal must leave both.
        Shell.IpIn(bed.Host.Name, "addr", "add", "192.168.250.1/24", "dev", UnderlayBed.Device);
        Shell.IpIn(bed.Host.Name, "link", "set", UnderlayBed.Device, "alias", "uplink-a");
        test(bed, bin.Path);
    }

    private static void AssertHostUnchanged(UnderlayBed bed, KernelState before, CniOutcome outcome)
    {
        var after = KernelState.Read(bed.Host.Name);
        Assert.True(before.Equals(after), $"the host changed after {outcome}:\n before {before}\n after  {after}");
        Assert.Empty(KernelState.Read(bed.Pod.Name).Links);
    }

    [PrivilegedFact("ip")]
    public void The_plugins_own_netns_is_refused_with_102_and_DEL_there_touches_nothing() => OnBed((bed, cniPath) =>
    {
        var before = KernelState.Read(bed.Host.Name);
        var config = UnderlayConfigs.Build("1.1.0");
        // /proc/self/ns/net is the plugin's own; /run/netns/<host> is a bind mount of the same namespace.
        foreach (var netns in (string[])["/proc/self/ns/net", bed.Host.Path])
        {
            var add = CniExec.Run(bed.Host.Name, CniPlugins.Fathom, new CniCall("ADD", "own-1", netns, "eth5", cniPath), config);
            Assert.Equal(102, add.ErrorCode);
            Assert.Contains("own network namespace", add.ErrorMessage);
            AssertHostUnchanged(bed, before, add);

            var prev = new JsonObject { ["cniVersion"] = "1.1.0", ["interfaces"] = new JsonArray(new JsonObject { ["name"] = "eth5", ["sandbox"] = netns }) };
            var check = CniExec.Run(bed.Host.Name, CniPlugins.Fathom, new CniCall("CHECK", "own-1", netns, "eth5", cniPath),
                UnderlayConfigs.WithPrevResult(config, prev));
            Assert.Equal(102, check.ErrorCode);

            // A DEL whose CNI_IFNAME is a host device with an alias would "return" it to the host
            // under that alias: it must succeed (the teardown of the refused ADD) and touch nothing.
            var del = CniExec.Run(bed.Host.Name, CniPlugins.Fathom, new CniCall("DEL", "own-1", netns, UnderlayBed.Device, cniPath), config);
            del.EnsureSuccess();
            AssertHostUnchanged(bed, before, del);
        }
    });

    public static TheoryData<string> Refusals() => new(
        "container id too long", "network name too long", "dataDir is a file", "dataDir read-only",
        "record path is a directory", "ipam refuses", "route unreachable");

    [PrivilegedTheory("ip")]
    [MemberData(nameof(Refusals))]
    public void Every_refused_ADD_leaves_the_host_device_exactly_as_it_was(string refusal) => OnBed((bed, cniPath) =>
    {
        var records = Directory.CreateTempSubdirectory("fathom-refusal-").FullName;
        var readOnly = false;
        try
        {
            var config = UnderlayConfigs.Build("1.1.0", staticIpam: true);
            config["dataDir"] = records;
            var call = bed.Call("ADD", cniPath);
            var expected = 0;
            switch (refusal)
            {
                case "container id too long": call = call with { ContainerId = new string('c', 250) }; expected = 4; break;
                case "network name too long": config["name"] = new string('n', 300); expected = 7; break;
                case "dataDir is a file": config["dataDir"] = "/proc/version"; expected = 5; break;
                case "dataDir read-only":
                    Shell.Run("mount", ["--bind", records, records]).EnsureSuccess("bind-mount");
                    readOnly = true;
                    Shell.Run("mount", ["-o", "remount,bind,ro", records]).EnsureSuccess("remount read-only");
                    expected = 5;
                    break;
                case "record path is a directory":
                    Directory.CreateDirectory(Path.Combine(records, "ul-test", $"{call.ContainerId}-eth0.json"));
                    expected = 5;
                    break;
                case "ipam refuses": // after the move: static fails on an address it cannot parse
                    config["ipam"]!["addresses"]![0]!["address"] = "10.10.0.300/24";
                    expected = -1;
                    break;
                case "route unreachable": // after the move and the allocation: the kernel refuses the route
                    config["ipam"]!["routes"] = new JsonArray(new JsonObject { ["dst"] = "10.99.0.0/16", ["gw"] = "172.31.0.1" });
                    expected = 104;
                    break;
            }
            var before = KernelState.Read(bed.Host.Name);
            var add = CniExec.Run(bed.Host.Name, CniPlugins.Fathom, call, config);
            Assert.False(add.Succeeded, add.ToString());
            Assert.True(add.ExitCode == 1, add.ToString());
            if (expected > 0) Assert.Equal(expected, add.ErrorCode);
            Assert.NotEqual(199, add.ErrorCode);
            AssertHostUnchanged(bed, before, add);
            // The runtime's DEL of that ADD ends, and changes nothing either.
            var del = CniExec.Run(bed.Host.Name, CniPlugins.Fathom, call with { Command = "DEL" }, config);
            del.EnsureSuccess();
            AssertHostUnchanged(bed, before, del);
        }
        finally
        {
            if (readOnly) Shell.Run("umount", [records]);
            Directory.Delete(records, recursive: true);
        }
    });

    [PrivilegedFact("ip")]
    public void A_FIFO_where_the_record_goes_does_not_hang_ADD_after_the_device_moved() => OnBed((bed, cniPath) =>
    {
        var folder = Path.Combine(UnderlayConfigs.RecordsDir, "ul-test");
        Directory.CreateDirectory(folder);
        var fifo = Path.Combine(folder, $"{bed.ContainerId}-eth0.json");
        Shell.Run("mkfifo", [fifo]).EnsureSuccess("mkfifo");
        try
        {
            var config = UnderlayConfigs.Build("1.1.0");
            var add = CniExec.RunBytes(bed.Call("ADD", cniPath).Environment(), Encoding.UTF8.GetBytes(config.ToJsonString()),
                bed.Host.Name, TimeSpan.FromSeconds(20));
            Assert.True(add.ExitCode != -1, "ADD hung on the FIFO (killed after 20 s)");
            add.EnsureSuccess();
            CniExec.Run(bed.Host.Name, CniPlugins.Fathom, bed.Call("DEL", cniPath), UnderlayConfigs.WithPrevResult(config, add.Result)).EnsureSuccess();
        }
        finally
        {
            File.Delete(fifo);
        }
    });

    /// <summary>
    /// A sample of the hostile-input generator through the binary on a bed: every command ends
    /// within a bound with a result or a documented error, and a refusal leaves the host as it was.
    /// A few dozen by default; FATHOM_FUZZ_SOAK=1 runs more.
    /// </summary>
    [PrivilegedFact("ip")]
    public void A_sample_of_hostile_invocations_never_crashes_hangs_or_changes_the_host() => OnBed((bed, cniPath) =>
    {
        var records = Directory.CreateTempSubdirectory("fathom-hostile-bin-").FullName;
        var empty = Directory.CreateTempSubdirectory("fathom-hostile-cnipath-").FullName;
        try
        {
            HostileInput.Generate(binary: true).Sample(input =>
            {
                var before = KernelState.Read(bed.Host.Name);
                var config = input.Config(records, Path.Combine(records, "fathom.log"), UnderlayBed.Device, bed.Pod.Path, "underlay");
                var output = CniExec.RunBytes(input.Environment(bed.Pod.Path, empty), config, bed.Host.Name, TimeSpan.FromSeconds(30));
                if (output.ExitCode == -1) throw new Xunit.Sdk.XunitException($"hung: {input}");
                if (output.ExitCode is not (0 or 1)) throw new Xunit.Sdk.XunitException($"exit {output.ExitCode} (a signal?): {output} for {input}");
                if (output.ExitCode == 1)
                {
                    if (output.ErrorCode is not { } code || !HostileInput.DocumentedCodes.Contains(code))
                        throw new Xunit.Sdk.XunitException($"code {output.ErrorCode}: {output} for {input}");
                    if (!before.Equals(KernelState.Read(bed.Host.Name)))
                        throw new Xunit.Sdk.XunitException($"the host changed after a refusal: {output} for {input}\n before {before}\n after  {KernelState.Read(bed.Host.Name)}");
                }
                else if (input.Command == "ADD")
                {
                    // It attached: take it back for the next case (the config DEL needs is the ADD's).
                    var env = input.Environment(bed.Pod.Path, empty);
                    env["CNI_COMMAND"] = "DEL";
                    var del = CniExec.RunBytes(env, config, bed.Host.Name, TimeSpan.FromSeconds(30));
                    if (!del.Succeeded) throw new Xunit.Sdk.XunitException($"DEL after a successful ADD failed: {del} for {input}");
                    if (KernelState.Read(bed.Pod.Name).Links.Count > 0)
                        throw new Xunit.Sdk.XunitException($"DEL left the pod with {KernelState.Read(bed.Pod.Name)} for {input}");
                    Shell.IpIn(bed.Host.Name, "link", "set", UnderlayBed.Device, "up");
                }
            }, iter: HostileInput.Soak ? 2_000 : 40, threads: 1);
        }
        finally
        {
            Directory.Delete(records, recursive: true);
            Directory.Delete(empty, recursive: true);
        }
    });
}
