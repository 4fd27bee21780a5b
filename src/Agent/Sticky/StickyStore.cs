using Fathom.Agent.State;

namespace Fathom.Agent.Sticky;

/// <summary>The sticky ENIs' durable records, one file per pod in <c>sticky/</c>.</summary>
public sealed class StickyStore : StickyRecordStore<StickyRecord>
{
    private static readonly StickyRecordFormat<StickyRecord> Format = new("sticky", StickyRecord.FileKind, StickyRecord.FormatVersion,
        StickyJsonContext.Default.StickyRecord, r => r.Identity, r => r.EniId, (r, now) => r with { UpdatedAt = now }, "sticky ENI");

    private StickyStore(StateDirectory state) : base(state, Format)
    {
    }

    /// <summary>Loads the records in <paramref name="state"/>.</summary>
    public static StickyStore Open(StateDirectory state) => new(state);
}
