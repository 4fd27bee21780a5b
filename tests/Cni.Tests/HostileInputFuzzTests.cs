using System.Diagnostics;
using CsCheck;

namespace Fathom.Cni.Tests;

/// <summary>
/// The property harness of issue 8, in-process: thousands of hostile invocations (HostileInput)
/// through the skeleton, the parser and the core's handlers with the recording datapath. Every
/// one ends within a bound, with exit 0 or the spec's error object carrying a documented code —
/// never 199 (a bug), never an exception out of <see cref="CniSkeleton.Run"/> (in the binary, a
/// crash). A quick sample by default (well within 30 s); FATHOM_FUZZ_SOAK=1 runs for 10 minutes.
/// The binary and the kernel get a sample of the same generator in Plugin.Tests.
/// </summary>
public sealed class HostileInputFuzzTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("fathom-fuzz-");
    private readonly string _cniPath;

    public HostileInputFuzzTests() => _cniPath = Directory.CreateDirectory(Path.Combine(_dir.FullName, "empty-cni-path")).FullName;

    public void Dispose() => _dir.Delete(recursive: true);

    /// <summary>Runs one case in-process and returns why it broke an invariant, or null.</summary>
    private string? Violation(HostileInput input)
    {
        var config = input.Config(Path.Combine(_dir.FullName, "records"), Path.Combine(_dir.FullName, "fathom.log"), "eth10", "/var/run/netns/ftest-fuzz-none", "test");
        var env = input.Environment("/var/run/netns/ftest-fuzz-none", _cniPath);
        var clock = Stopwatch.StartNew();
        PluginOutput output;
        try
        {
            output = InProcess.Run(new TestDatapath(), env, config);
        }
        catch (Exception e)
        {
            return $"an exception escaped the skeleton: {e.GetType().Name}: {e.Message}";
        }
        if (clock.Elapsed > TimeSpan.FromSeconds(10)) return $"took {clock.Elapsed.TotalSeconds:0.#} s";
        if (output.ExitCode == 0) return null;
        if (output.ExitCode != 1) return $"exit {output.ExitCode}";
        System.Text.Json.Nodes.JsonObject json;
        try
        {
            json = output.Json;
        }
        catch (Exception e)
        {
            return $"stdout is not an error object ({e.Message}): {output.Stdout}";
        }
        var code = (int?)json["code"];
        if (code is null || !HostileInput.DocumentedCodes.Contains(code.Value)) return $"code {code?.ToString() ?? "(none)"}: {output.Stdout}";
        if (string.IsNullOrWhiteSpace((string?)json["msg"])) return $"no msg: {output.Stdout}";
        if ((string?)json["cniVersion"] is null) return $"no cniVersion: {output.Stdout}";
        return null;
    }

    [Fact]
    public void Every_hostile_invocation_ends_in_a_result_or_a_documented_error()
    {
        HostileInput.Generate(binary: false).Sample(
            input =>
            {
                if (Violation(input) is { } problem) throw new Xunit.Sdk.XunitException(problem);
            },
            iter: HostileInput.Soak ? 10_000_000 : 5_000,
            time: HostileInput.Soak ? 600 : -1,
            threads: 1);
    }

    // Cases the generator found once, kept so they stay fixed.
    [Theory]
    [InlineData("""{"cniVersion":"1.1.0","name":"fuzznet","type":"fathom","device":"eth10","dataDir":"@DATADIR@","prevResult":{"ips":[{"address":"10.0.0.5/24","interface":2147483648}],"routes":[{"dst":"0.0.0.0/0","mtu":1e400}]}}""")]
    [InlineData("""{"cniVersion":"1.1.0","name":"fuzznet","type":"fathom","device":"eth10","dataDir":"@DATADIR@","cniVersions":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}""")]
    [InlineData("""{"cniVersion":"1.1.0","name":"fuzznet","type":"fathom","device":"eth10","dataDir":"@DATADIR@","dns":{"nameservers":[1e400],"options":{}}}""")]
    [InlineData("""{"cniVersion":"1.1.0","name":"fuzznet","type":"fathom","device":"eth10","dataDir":"@DATADIR@","ipam":{"type":"\ud800"}}""")]
    [InlineData("\"\\ud800\"{\"cniVersion\":\"1.1.0\",\"name\":\"fuzznet\",\"type\":\"fathom\",\"dataDir\":\"@DATADIR@\"}")]
    public void Known_hostile_configs_end_in_a_documented_error(string template)
    {
        foreach (var command in (string[])["ADD", "DEL", "CHECK", "STATUS", "GC"])
        {
            var input = new HostileInput(command, new Dictionary<string, string?>
            {
                ["CNI_COMMAND"] = command, ["CNI_CONTAINERID"] = "fz-1", ["CNI_IFNAME"] = "eth0",
                ["CNI_NETNS"] = HostileInput.Netns, ["CNI_PATH"] = HostileInput.CniPath,
            }, template, 0, 0);
            Assert.Null(Violation(input));
        }
    }
}
