using Fathom.Agent.State;

namespace Fathom.Agent.Sticky;

/// <summary>The sticky IPs' durable records, one file per pod in <c>sticky-ips/</c>.</summary>
public sealed class StickyIpStore : StickyRecordStore<StickyIpRecord>
{
    private static readonly StickyRecordFormat<StickyIpRecord> Format = new("sticky-ips", StickyIpRecord.FileKind, StickyIpRecord.FormatVersion,
        StickyJsonContext.Default.StickyIpRecord, r => r.Identity, r => r.Ip, (r, now) => r with { UpdatedAt = now }, "sticky IP");

    private StickyIpStore(StateDirectory state) : base(state, Format)
    {
    }

    /// <summary>Loads the records in <paramref name="state"/>.</summary>
    public static StickyIpStore Open(StateDirectory state) => new(state);
}
