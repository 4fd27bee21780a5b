using System.Text;
using System.Text.Json.Nodes;

namespace Fathom.Cni.Tests;

/// <summary>The attachment records on their own: format, atomic replacement, what List reports.</summary>
public sealed class AttachmentStoreTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("fathom-records-");
    private readonly AttachmentStore _store;

    public AttachmentStoreTests() => _store = new AttachmentStore(_dir.FullName, "net1");

    public void Dispose() => _dir.Delete(recursive: true);

    private static AttachmentRecord Record(string container, string ifName = "eth0", string network = "net1")
    {
        // Spacing and key order kept byte for byte: IPAM DEL must get the config ADD got.
        var config = $$$"""{"cniVersion":"1.1.0", "name":"{{{network}}}","type":"fathom","ipam":{"type":"host-local"}}""";
        var request = new CniRequest
        {
            Command = CniCommand.Add,
            ContainerId = container,
            IfName = ifName,
            NetnsPath = "/run/netns/p1",
            Config = NetworkConfig.Parse(Encoding.UTF8.GetBytes(config)),
        };
        var result = new CniResult
        {
            Interfaces = [new CniInterface(ifName, "02:00:00:00:00:01", 1500, "/run/netns/p1")],
            Ips = [new CniIpConfig(Fathom.Netlink.IpPrefix.Parse("10.0.0.5/24"), Interface: 0)],
        };
        return AttachmentRecord.Of(request, result);
    }

    [Fact]
    public void A_saved_record_reads_back_whole_with_the_config_bytes_unchanged()
    {
        var record = Record("c1");
        _store.Save(record);

        var path = Path.Combine(_dir.FullName, "net1", "c1-eth0.json");
        Assert.Equal(path, _store.PathOf("c1", "eth0"));
        var stored = Assert.Single(_store.List());
        Assert.Equal(path, stored.Path);
        Assert.Null(stored.Problem);
        var read = stored.Record!;
        Assert.Equal(("net1", "c1", "eth0", "/run/netns/p1"), (read.Network, read.ContainerId, read.IfName, read.NetnsPath));
        Assert.Equal(record.Config, read.Config);
        Assert.Equal("10.0.0.5/24", read.Result!.Value.GetProperty("ips")[0].GetProperty("address").GetString());

        // libcni's cache format: base64 config, the result as JSON, owner-only files.
        var json = JsonNode.Parse(File.ReadAllText(path))!;
        Assert.Equal(AttachmentRecord.CurrentKind, (string)json["kind"]!);
        Assert.Equal(Convert.ToBase64String(record.Config), (string)json["config"]!);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
    }

    [Theory]
    [InlineData("c1", "eth0", "net1")]
    [InlineData("c-<&>+'", "eth\"0\\\u00e9", "net.1_x")]
    public void A_record_file_is_the_source_generated_serializers_bytes(string container, string ifName, string network)
    {
        // The plugin writes records by hand (no serializer metadata on every ADD); the file stays what it was.
        // By hand first: a record made by Of writes the ADD's result straight in, unparsed; the
        // serializer then reads Result, which parses it, and the hand writer copies that element.
        var record = Record(container, ifName, network);
        var straight = record.ToUtf8Json();
        var generated = System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(record, AttachmentJson.Default.AttachmentRecord);
        Assert.Equal(Encoding.UTF8.GetString(generated), Encoding.UTF8.GetString(straight));
        Assert.Equal(Encoding.UTF8.GetString(generated), Encoding.UTF8.GetString(record.ToUtf8Json()));
        var bare = new AttachmentRecord { Kind = "k", Network = "n\u00e9\u4e2d<&>", ContainerId = "c", IfName = "e", Config = [1, 2, 250] };
        Assert.Equal(System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(bare, AttachmentJson.Default.AttachmentRecord), bare.ToUtf8Json());
    }

    [Fact]
    public void Saving_again_replaces_the_record_and_leaves_no_temporary_file()
    {
        _store.Save(Record("c1"));
        _store.Save(Record("c1"));
        _store.Save(Record("c2"));
        Assert.Equal(["c1-eth0.json", "c2-eth0.json"],
            Directory.GetFiles(_store.Folder).Select(f => Path.GetFileName(f)!).Order(StringComparer.Ordinal));
        Assert.Equal(["c1", "c2"], _store.List().Select(s => s.Record!.ContainerId));
    }

    [Fact]
    public void Remove_is_idempotent()
    {
        _store.Remove("c1", "eth0"); // no folder yet
        _store.Save(Record("c1"));
        _store.Remove("c1", "eth0");
        Assert.False(File.Exists(_store.PathOf("c1", "eth0")));
        _store.Remove("c1", "eth0");
        Assert.Empty(_store.List());
    }

    [Fact]
    public void Two_attachments_whose_names_join_alike_do_not_overwrite_each_other()
    {
        _store.Save(Record("a-b", "c"));
        var clash = Assert.Throws<CniException>(() => _store.Save(Record("a", "b-c")));
        Assert.Equal(CniErrorCode.InvalidEnvironment, clash.Code);
        Assert.Contains("a-b/c", clash.Message);
        Assert.Equal("a-b", Assert.Single(_store.List()).Record!.ContainerId);
    }

    [Fact]
    public void List_reports_files_that_are_not_this_networks_records_and_keeps_going()
    {
        _store.Save(Record("good"));
        Directory.CreateDirectory(_store.Folder);
        File.WriteAllText(_store.PathOf("garbage", "eth0"), "not json");
        File.WriteAllText(_store.PathOf("empty", "eth0"), "");
        File.WriteAllText(_store.PathOf("missing", "eth0"), """{"kind":"fathom-attachment-v1","networkName":"net1"}""");
        File.WriteAllText(_store.PathOf("otherkind", "eth0"), File.ReadAllText(_store.PathOf("good", "eth0")).Replace("fathom-attachment-v1", "cniCacheV1"));
        File.WriteAllText(_store.PathOf("moved", "eth0"), File.ReadAllText(_store.PathOf("good", "eth0")));
        File.WriteAllText(_store.PathOf("othernet", "eth0"), File.ReadAllText(_store.PathOf("good", "eth0"))
            .Replace("\"networkName\": \"net1\"", "\"networkName\": \"net2\"").Replace("good", "othernet"));
        File.WriteAllText(Path.Combine(_store.Folder, "c9-eth0.json.1234.tmp"), "half a reco");

        var listed = _store.List().ToDictionary(s => Path.GetFileName(s.Path));
        Assert.Equal(["empty-eth0.json", "garbage-eth0.json", "good-eth0.json", "missing-eth0.json", "moved-eth0.json", "otherkind-eth0.json", "othernet-eth0.json"],
            listed.Keys.Order(StringComparer.Ordinal));
        Assert.NotNull(listed["good-eth0.json"].Record);
        foreach (var bad in listed.Values.Where(s => s.Record is null))
        {
            Assert.Equal(CniErrorCode.DecodeFailure, bad.Code);
            Assert.StartsWith(bad.Path.Contains("moved") || bad.Path.Contains("othernet") ? "it records" : "not an attachment record", bad.Problem);
        }
        Assert.Equal(6, listed.Values.Count(s => s.Record is null));
        Assert.Contains("net2", listed["othernet-eth0.json"].Problem);
        Assert.Contains("cniCacheV1", listed["otherkind-eth0.json"].Problem);
    }
}
