using Fathom.Datastore.Configuration;
using Fathom.Datastore.Embedded;

namespace Fathom.Datastore.Tests.Configuration;

public sealed class DatastoreOptionsTests
{
    [Fact]
    public async Task The_default_kind_is_the_embedded_store_in_the_directory_given()
    {
        var directory = Directory.CreateTempSubdirectory("fathom-datastore-").FullName;
        try
        {
            await using var store = await new DatastoreOptions { ClusterCidr = "10.244.0.0/16", Directory = directory }.OpenAsync();
            Assert.IsType<EmbeddedSubnetLeaseStore>(store);
            Assert.Equal(256, store.Pool.Count);
            Assert.Equal(SubnetLeaseDefaults.Ttl, store.Ttl);
            Assert.True(File.Exists(Path.Combine(directory, "pool.json")));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public async Task An_unknown_kind_or_etcd_without_endpoints_is_refused_with_what_is_known()
    {
        var e = await Assert.ThrowsAsync<ArgumentException>(() => new DatastoreOptions { ClusterCidr = "10.244.0.0/16", Kind = "consul" }.OpenAsync());
        Assert.Contains("embedded, etcd", e.Message, StringComparison.Ordinal);
        e = await Assert.ThrowsAsync<ArgumentException>(() => new DatastoreOptions { ClusterCidr = "10.244.0.0/16", Kind = "etcd" }.OpenAsync());
        Assert.Contains("endpoint", e.Message, StringComparison.Ordinal);
    }
}
