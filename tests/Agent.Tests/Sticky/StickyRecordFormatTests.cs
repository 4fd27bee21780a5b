using System.Text.Json.Nodes;
using Fathom.Agent.State;
using Fathom.Agent.Sticky;

namespace Fathom.Agent.Tests.Sticky;

/// <summary>
/// The sticky records on disk: files written by an agent from before both kinds shared
/// <see cref="StickyPodRecord{TPhase}"/> (these literal files, field order and all) load unchanged,
/// and what this agent writes has exactly the JSON names those had, in the same order.
/// </summary>
public sealed class StickyRecordFormatTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("fsd-sticky-format-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private const string OldEniRecord = """
        {
          "kind": "fathom-agent-sticky",
          "version": 1,
          "namespace": "db",
          "name": "web-0",
          "eniId": "eni-0123456789abcdef0",
          "phase": "detaching",
          "tagsInSync": true,
          "releasedAt": "2026-12-06T06:00:00+00:00",
          "oldInstanceId": "i-0aaaaaaaaaaaaaaaa",
          "oldAttachmentId": "eni-attach-0bbbbbbbbbbbbbbbb",
          "updatedAt": "2026-12-06T06:00:01+00:00"
        }
        """;

    private const string OldIpRecord = """
        {
          "kind": "fathom-agent-sticky-ip",
          "version": 1,
          "namespace": "db",
          "name": "web-1",
          "ip": "10.0.1.7",
          "eniId": "eni-0fedcba9876543210",
          "phase": "moving",
          "tagsInSync": false,
          "oldEniId": "eni-0cccccccccccccccc",
          "updatedAt": "2026-12-06T06:00:02+00:00"
        }
        """;

    [Fact]
    public void Records_an_earlier_agent_wrote_load_field_for_field()
    {
        Directory.CreateDirectory(Path.Combine(_dir, "sticky"));
        Directory.CreateDirectory(Path.Combine(_dir, "sticky-ips"));
        File.WriteAllText(Path.Combine(_dir, "sticky", "db_web-0.json"), OldEniRecord);
        File.WriteAllText(Path.Combine(_dir, "sticky-ips", "db_web-1.json"), OldIpRecord);
        using var state = StateDirectory.Open(_dir);

        var eni = StickyStore.Open(state).Get("db/web-0")!;
        Assert.Equal(new StickyRecord
        {
            Namespace = "db", Name = "web-0", EniId = "eni-0123456789abcdef0", Phase = StickyPhase.Detaching, TagsInSync = true,
            ReleasedAt = DateTimeOffset.Parse("2026-12-06T06:00:00+00:00"), OldInstanceId = "i-0aaaaaaaaaaaaaaaa",
            OldAttachmentId = "eni-attach-0bbbbbbbbbbbbbbbb", UpdatedAt = DateTimeOffset.Parse("2026-12-06T06:00:01+00:00"),
        }, eni);
        Assert.Equal(("db/web-0", "eni-0123456789abcdef0", false, false), (eni.Identity, eni.Resource, eni.IsLocal, eni.IsRetained));

        var ip = StickyIpStore.Open(state).Get("db/web-1")!;
        Assert.Equal(new StickyIpRecord
        {
            Namespace = "db", Name = "web-1", Ip = "10.0.1.7", EniId = "eni-0fedcba9876543210", Phase = StickyIpPhase.Moving,
            OldEniId = "eni-0cccccccccccccccc", UpdatedAt = DateTimeOffset.Parse("2026-12-06T06:00:02+00:00"),
        }, ip);
        Assert.Equal(("db/web-1", "10.0.1.7", "fathom.io/sticky-ip/db/web-1"), (ip.Identity, ip.Resource, ip.TagKey));
    }

    [Fact]
    public void Records_written_now_carry_the_same_names_in_the_same_order_as_before()
    {
        using var state = StateDirectory.Open(_dir);
        var eni = JsonNode.Parse(OldEniRecord)!.AsObject();
        var ip = JsonNode.Parse(OldIpRecord)!.AsObject();
        StickyStore.Open(state).Put(new StickyRecord
        {
            Namespace = "db", Name = "web-0", EniId = "eni-0123456789abcdef0", Phase = StickyPhase.Detaching, TagsInSync = true,
            ReleasedAt = DateTimeOffset.UnixEpoch, OldInstanceId = "i-1", OldAttachmentId = "a-1",
        });
        StickyIpStore.Open(state).Put(new StickyIpRecord
        {
            Namespace = "db", Name = "web-1", Ip = "10.0.1.7", EniId = "eni-1", Phase = StickyIpPhase.Moving, OldEniId = "eni-2",
        });

        var eniNow = JsonNode.Parse(File.ReadAllText(Path.Combine(_dir, "sticky", "db_web-0.json")))!.AsObject();
        var ipNow = JsonNode.Parse(File.ReadAllText(Path.Combine(_dir, "sticky-ips", "db_web-1.json")))!.AsObject();
        Assert.Equal(eni.Select(p => p.Key), eniNow.Select(p => p.Key));
        Assert.Equal(ip.Select(p => p.Key), ipNow.Select(p => p.Key));
        Assert.Equal(("fathom-agent-sticky", 1, "detaching"), ((string)eniNow["kind"]!, (int)eniNow["version"]!, (string)eniNow["phase"]!));
        Assert.Equal(("fathom-agent-sticky-ip", 1, "moving"), ((string)ipNow["kind"]!, (int)ipNow["version"]!, (string)ipNow["phase"]!));
    }
}
