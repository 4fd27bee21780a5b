using System.Net.Sockets;
using System.Text;

namespace Fathom.Cni.Tests;

/// <summary>
/// Issue 8: input from a hostile runtime or a careless operator never crashes the plugin, never
/// ends in 199 ("a bug"), never hangs, and never gets as far as the datapath when it could not
/// be carried through. In-process, with the recording datapath; the same classes through the
/// binary and the kernel are in Plugin.Tests (Binary/HostileInputBinaryTests).
/// </summary>
public sealed class HostileInputTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("fathom-hostile-");

    public void Dispose() => _dir.Delete(recursive: true);

    private string Records => Path.Combine(_dir.FullName, "records");

    private byte[] Config(string version = "1.1.0", string extra = "") =>
        Encoding.UTF8.GetBytes($$$"""{"cniVersion":"{{{version}}}","name":"hnet","type":"fathom","device":"eth10","dataDir":"{{{Records}}}"{{{extra}}}}""");

    // A config with raw bytes spliced in where "@@" stands (invalid UTF-8 cannot be written in a C# string).
    private byte[] ConfigWith(string template, byte[] splice)
    {
        var text = Encoding.UTF8.GetBytes(template.Replace("RECORDS", Records, StringComparison.Ordinal));
        var at = text.AsSpan().IndexOf("@@"u8);
        return [.. text[..at], .. splice, .. text[(at + 2)..]];
    }

    private static readonly byte[] InvalidUtf8 = [0x65, 0x74, 0xff, 0x68];
    private static readonly byte[] LoneSurrogate = "\\ud800"u8.ToArray();

    public static TheoryData<string, string> BadTextPlaces() => new()
    {
        { "cniVersion", """{"cniVersion":"@@","name":"hnet","type":"fathom","device":"eth10","dataDir":"RECORDS"}""" },
        { "name", """{"cniVersion":"1.1.0","name":"@@","type":"fathom","device":"eth10","dataDir":"RECORDS"}""" },
        { "device", """{"cniVersion":"1.1.0","name":"hnet","type":"fathom","device":"@@","dataDir":"RECORDS"}""" },
        { "ipam.note", """{"cniVersion":"1.1.0","name":"hnet","type":"fathom","device":"eth10","dataDir":"RECORDS","ipam":{"type":"static","note":"@@"}}""" },
        { "a key", """{"cniVersion":"1.1.0","name":"hnet","type":"fathom","device":"eth10","dataDir":"RECORDS","x@@":1}""" },
        { "runtimeConfig.mac", """{"cniVersion":"1.1.0","name":"hnet","type":"fathom","device":"eth10","dataDir":"RECORDS","runtimeConfig":{"mac":"@@"}}""" },
        { "prevResult", """{"cniVersion":"1.1.0","name":"hnet","type":"fathom","device":"eth10","dataDir":"RECORDS","prevResult":{"cniVersion":"1.1.0","interfaces":[{"name":"@@"}]}}""" },
    };

    [Theory]
    [MemberData(nameof(BadTextPlaces))]
    public void Text_that_is_not_unicode_is_error_6_naming_the_field_for_ADD(string field, string template)
    {
        foreach (var bad in (byte[][])[InvalidUtf8, LoneSurrogate])
        {
            var datapath = new TestDatapath();
            var output = InProcess.Run(datapath, InProcess.Env("ADD"), ConfigWith(template, bad));
            Assert.Equal(6, output.ErrorCode);
            var msg = (string)output.Json["msg"]!;
            Assert.Contains(field == "a key" ? "a top-level key" : $"\"{field.Split('.')[0]}", msg);
            Assert.Contains("not valid Unicode", msg);
            Assert.Empty(datapath.Calls);
        }
    }

    [Theory]
    [InlineData("cniVersion")]
    [InlineData("name")]
    [InlineData("type")]
    [InlineData("dataDir")]
    public void DEL_refuses_bad_text_in_a_field_it_needs_with_6(string field)
    {
        var template = $$"""{"cniVersion":"1.1.0","name":"hnet","type":"fathom","device":"eth10","dataDir":"RECORDS","{{field}}":"@@"}""";
        // The field given twice would be a duplicate: replace the first instead.
        template = template.Replace($"\"{field}\":\"{(field == "cniVersion" ? "1.1.0" : field == "name" ? "hnet" : field == "type" ? "fathom" : "RECORDS")}\",", "", StringComparison.Ordinal);
        foreach (var bad in (byte[][])[InvalidUtf8, LoneSurrogate])
        {
            var output = InProcess.Run(new TestDatapath(), InProcess.Env("DEL"), ConfigWith(template, bad));
            Assert.Equal(6, output.ErrorCode);
            Assert.Contains($"\"{field}\"", (string)output.Json["msg"]!);
        }
    }

    [Theory]
    [InlineData("""{"cniVersion":"1.1.0","name":"hnet","type":"fathom","device":"eth10","dataDir":"RECORDS","note":"@@","ipam":{"type":"static","addresses":[{"address":"10.1.0.5/24"}]}}""")]
    [InlineData("""{"cniVersion":"1.1.0","name":"hnet","type":"fathom","device":"eth10","dataDir":"RECORDS","ipam":{"type":"static","x":"@@","addresses":[{"address":"10.1.0.5/24"}]}}""")]
    [InlineData("""{"cniVersion":"1.1.0","name":"hnet","type":"fathom","device":"eth10","dataDir":"RECORDS","k@@":1,"ipam":{"type":"static","addresses":[{"address":"10.1.0.5/24"}]}}""")]
    public void DEL_with_bad_text_in_a_field_it_does_not_read_succeeds_and_releases(string template)
    {
        Assert.True(File.Exists("/usr/lib/cni/static"), "needs containernetworking-plugins in /usr/lib/cni (scripts/prereqs.sh)");
        foreach (var bad in (byte[][])[InvalidUtf8, LoneSurrogate])
        {
            var config = ConfigWith(template, bad);
            var add = InProcess.Run(new TestDatapath(), InProcess.Env("ADD"), config);
            Assert.Equal(6, add.ErrorCode); // ADD refuses what it cannot carry through whole
            // The runtime's teardown of that failed ADD, with the same config: it must end.
            var datapath = new TestDatapath();
            InProcess.Run(datapath, InProcess.Env("DEL"), config).Succeeded();
            Assert.Equal(["DEL"], datapath.Calls);
        }
    }

    [Fact]
    public void Bad_text_in_the_device_field_is_refused_on_DEL_where_the_mode_reads_it()
    {
        var config = ConfigWith("""{"cniVersion":"1.1.0","name":"hnet","type":"fathom","device":"@@","dataDir":"RECORDS"}""", InvalidUtf8);
        var parsed = NetworkConfig.Parse(config, teardown: true);
        var e = Assert.Throws<CniException>(() => parsed.OptionalString("device"));
        Assert.Equal(CniErrorCode.DecodeFailure, e.Code);
        Assert.Contains("\"device\"", e.Message);
    }

    // ---- records that could never be written: refused before the datapath moves anything ----

    [Fact]
    public void A_container_id_too_long_for_a_record_file_is_refused_with_4_before_the_attach_and_its_DEL_succeeds()
    {
        var env = InProcess.Env("ADD");
        env["CNI_CONTAINERID"] = new string('c', 250);
        var datapath = new TestDatapath();
        var output = InProcess.Run(datapath, env, Config());
        Assert.Equal(4, output.ErrorCode);
        Assert.Contains("CNI_CONTAINERID", (string)output.Json["msg"]!);
        Assert.Empty(datapath.Calls);

        env["CNI_COMMAND"] = "DEL";
        InProcess.Run(datapath, env, Config()).Succeeded();
    }

    [Fact]
    public void A_network_name_too_long_for_a_record_folder_is_refused_with_7_before_the_attach()
    {
        var config = Encoding.UTF8.GetBytes($$"""{"cniVersion":"1.1.0","name":"{{new string('n', 300)}}","type":"fathom","device":"eth10","dataDir":"{{Records}}"}""");
        var datapath = new TestDatapath();
        Assert.Equal(7, InProcess.Run(datapath, InProcess.Env("ADD"), config).ErrorCode);
        Assert.Empty(datapath.Calls);
        InProcess.Run(datapath, InProcess.Env("DEL"), config).Succeeded();
    }

    [Fact]
    public void A_data_dir_too_long_for_a_record_path_is_refused_with_7_before_the_attach()
    {
        var deep = "/tmp/" + string.Join('/', Enumerable.Repeat(new string('d', 200), 25));
        var config = Encoding.UTF8.GetBytes($$"""{"cniVersion":"1.1.0","name":"hnet","type":"fathom","device":"eth10","dataDir":"{{deep}}"}""");
        var datapath = new TestDatapath();
        var output = InProcess.Run(datapath, InProcess.Env("ADD"), config);
        Assert.Equal(7, output.ErrorCode);
        Assert.Contains("dataDir", (string)output.Json["msg"]!);
        Assert.Empty(datapath.Calls);
    }

    [Fact]
    public void A_directory_named_like_the_record_is_refused_with_5_before_the_attach()
    {
        Directory.CreateDirectory(Path.Combine(Records, "hnet", "ctr-1-eth0.json"));
        var datapath = new TestDatapath();
        var output = InProcess.Run(datapath, InProcess.Env("ADD"), Config());
        Assert.Equal(5, output.ErrorCode);
        Assert.Contains("ctr-1-eth0.json", (string)output.Json["msg"]!);
        Assert.Empty(datapath.Calls);
    }

    // ---- what is not a regular file in the record folder: never opened, never a hang ----

    private static PluginOutput Bounded(Func<PluginOutput> run, string fifoToRelease)
    {
        var task = Task.Run(run);
        if (task.Wait(TimeSpan.FromSeconds(20))) return task.Result;
        // Unblock the hung reader so the test process can end, then fail.
        using (var w = new FileStream(fifoToRelease, FileMode.Open, FileAccess.Write)) { }
        throw new Xunit.Sdk.XunitException("the command did not finish within 20 s (it opened a FIFO)");
    }

    [Fact]
    public void GC_skips_a_FIFO_socket_or_directory_named_like_a_record_and_says_so()
    {
        var folder = Path.Combine(Records, "hnet");
        Directory.CreateDirectory(folder);
        var fifo = Path.Combine(folder, "f-eth0.json");
        Assert.Equal(0, Shell.Run("mkfifo", [fifo]).ExitCode);
        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        socket.Bind(new UnixDomainSocketEndPoint(Path.Combine(folder, "s-eth0.json")));
        Directory.CreateDirectory(Path.Combine(folder, "d-eth0.json"));

        var stderr = new StringWriter();
        var datapath = new TestDatapath();
        var output = Bounded(() => InProcess.Run(datapath, new Dictionary<string, string> { ["CNI_COMMAND"] = "GC", ["CNI_PATH"] = "/usr/lib/cni" },
            Config(), stderr), fifo);
        output.Succeeded();
        Assert.Contains("f-eth0.json", stderr.ToString());
        Assert.Contains("FIFO", stderr.ToString());
        Assert.Contains("s-eth0.json", stderr.ToString());
        Assert.Equal(["GC"], datapath.Calls);
    }

    [Fact]
    public void ADD_over_a_FIFO_named_like_its_record_ends_and_replaces_it_with_the_record()
    {
        var folder = Path.Combine(Records, "hnet");
        Directory.CreateDirectory(folder);
        var fifo = Path.Combine(folder, "ctr-1-eth0.json");
        Assert.Equal(0, Shell.Run("mkfifo", [fifo]).ExitCode);
        var output = Bounded(() => InProcess.Run(new TestDatapath(), InProcess.Env("ADD"), Config()), fifo);
        output.Succeeded();
        Assert.Equal("fathom-attachment-v1", new AttachmentStore(Records, "hnet").Read(fifo).Record?.Kind);
    }

    [Fact]
    public void GC_removes_the_temporary_file_of_a_record_write_whose_plugin_is_gone_and_keeps_a_live_ones()
    {
        var folder = Path.Combine(Records, "hnet");
        Directory.CreateDirectory(folder);
        var stray = Path.Combine(folder, "a-eth0.json.2147483600.tmp");
        var live = Path.Combine(folder, $"b-eth0.json.{Environment.ProcessId}.tmp");
        File.WriteAllText(stray, "{");
        File.WriteAllText(live, "{");
        var stderr = new StringWriter();
        InProcess.Run(new TestDatapath(), new Dictionary<string, string> { ["CNI_COMMAND"] = "GC", ["CNI_PATH"] = "/usr/lib/cni" },
            Config(), stderr).Succeeded();
        Assert.False(File.Exists(stray));
        Assert.True(File.Exists(live));
        Assert.Contains("a-eth0.json.2147483600.tmp", stderr.ToString());
    }

    // ---- paths ----

    [Theory]
    [InlineData("fathom.log")]
    [InlineData("logs/fathom.log")]
    [InlineData("./fathom.log")]
    public void A_relative_log_file_is_error_7_as_a_relative_data_dir_is(string logFile)
    {
        var datapath = new TestDatapath();
        var output = InProcess.Run(datapath, InProcess.Env("ADD"), Config(extra: $$""","logFile":"{{logFile}}" """));
        Assert.Equal(7, output.ErrorCode);
        Assert.Contains("\"logFile\"", (string)output.Json["msg"]!);
        Assert.Empty(datapath.Calls);
        Assert.False(File.Exists(logFile));
    }

    [Theory]
    [InlineData("dataDir")]
    [InlineData("logFile")]
    public void A_path_with_a_NUL_is_error_7(string field)
    {
        var config = Encoding.UTF8.GetBytes($$"""{"cniVersion":"1.1.0","name":"hnet","type":"fathom","device":"eth10","{{field}}":"/tmp/a\u0000b"}""");
        var datapath = new TestDatapath();
        var output = InProcess.Run(datapath, InProcess.Env("ADD"), config);
        Assert.Equal(7, output.ErrorCode);
        Assert.Contains($"\"{field}\"", (string)output.Json["msg"]!);
        Assert.Empty(datapath.Calls);
    }

    [Fact]
    public void GC_names_a_record_whose_text_is_not_unicode_as_6_never_199()
    {
        var folder = Path.Combine(Records, "hnet");
        Directory.CreateDirectory(folder);
        var bad = Path.Combine(folder, "x-eth0.json");
        File.WriteAllBytes(bad, [.. "{\"kind\":\"fathom-attachment-v1\",\"networkName\":\"hnet\",\"containerID\":\"x"u8, 0xff, .. "\",\"ifname\":\"eth0\",\"config\":\"\"}"u8]);
        var output = InProcess.Run(new TestDatapath(), new Dictionary<string, string> { ["CNI_COMMAND"] = "GC", ["CNI_PATH"] = "/usr/lib/cni" }, Config());
        Assert.Equal(6, output.ErrorCode);
        Assert.Contains("x-eth0.json", (string)output.Json["msg"]!);
    }

    [Fact]
    public void A_FIFO_in_the_IPAM_version_cache_does_not_hang_ADD()
    {
        Assert.True(File.Exists("/usr/lib/cni/host-local"), "needs containernetworking-plugins in /usr/lib/cni (scripts/prereqs.sh)");
        var leases = Path.Combine(_dir.FullName, "leases");
        var config = Config(extra: $$""","ipam":{"type":"host-local","dataDir":"{{leases}}","ranges":[[{"subnet":"10.97.0.0/24"}]]}""");
        // Debian's host-local stops at 1.0.0: a 1.1.0 ADD bridges the version and remembers it.
        InProcess.Run(new TestDatapath(), InProcess.Env("ADD"), config).Succeeded();
        var entry = Assert.Single(Directory.GetFiles(Path.Combine(Records, ".plugin-versions"), "*.json"));
        File.Delete(entry);
        Assert.Equal(0, Shell.Run("mkfifo", [entry]).ExitCode);
        var env = InProcess.Env("ADD");
        env["CNI_CONTAINERID"] = "ctr-2";
        Bounded(() => InProcess.Run(new TestDatapath(), env, config), entry).Succeeded();
    }

    [Fact]
    public void A_config_larger_than_16_MiB_is_error_6_without_reading_it_all()
    {
        var huge = new byte[(16 << 20) + 1];
        huge.AsSpan().Fill((byte)' ');
        var datapath = new TestDatapath();
        Assert.Equal(6, InProcess.Run(datapath, InProcess.Env("ADD"), huge).ErrorCode);
        Assert.Empty(datapath.Calls);
    }
}
