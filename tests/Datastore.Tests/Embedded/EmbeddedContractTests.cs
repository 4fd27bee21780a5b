using Fathom.Datastore.Embedded;
using Microsoft.Extensions.Time.Testing;

namespace Fathom.Datastore.Tests.Embedded;

/// <summary>The contract on the embedded store: a temporary directory per test, a fake clock shared by its agents.</summary>
public sealed class EmbeddedContractTests : SubnetLeaseStoreContract
{
    private readonly string _directory = Directory.CreateTempSubdirectory("fathom-datastore-").FullName;
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 12, 6, 0, 0, 0, TimeSpan.Zero));
    private static readonly TimeSpan Ttl = TimeSpan.FromMinutes(2);

    protected override async Task<ISubnetLeaseStore> CreateStoreAsync(SubnetPool pool, bool expiring) =>
        await EmbeddedSubnetLeaseStore.OpenAsync(new EmbeddedStoreOptions(_directory) { Ttl = Ttl }, pool, _time);

    protected override Task LetLeasesExpireAsync()
    {
        _time.Advance(Ttl + TimeSpan.FromSeconds(1));
        return Task.CompletedTask;
    }

    protected override DateTimeOffset Now => _time.GetUtcNow();

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        Directory.Delete(_directory, recursive: true);
    }
}
