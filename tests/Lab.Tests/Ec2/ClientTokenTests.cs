using Amazon.EC2;
using Amazon.EC2.Model;

namespace Fathom.Lab.Tests.Ec2;

/// <summary>
/// CreateNetworkInterface is idempotent by ClientToken, as EC2 makes it ("Ensuring idempotency"):
/// what the agent relies on when its SDK retries a create that timed out after the ENI was made —
/// otherwise each such retry leaks an ENI until the sweep finds it.
/// </summary>
public sealed class ClientTokenTests : IAsyncLifetime
{
    private Ec2TestLab _lab = null!;

    public async Task InitializeAsync() => _lab = await Ec2TestLab.StartAsync();

    public async Task DisposeAsync() => await _lab.DisposeAsync();

    private CreateNetworkInterfaceRequest Create(string? token, string description = "fathom c/n") => new()
    {
        SubnetId = _lab.Subnet1.SubnetId,
        Description = description,
        ClientToken = token,
        TagSpecifications = [new TagSpecification { ResourceType = ResourceType.NetworkInterface, Tags = [new Tag("fathom.io/cluster", "c")] }],
    };

    private async Task<List<NetworkInterface>> All() =>
        (await _lab.Client.DescribeNetworkInterfacesAsync(new DescribeNetworkInterfacesRequest
        {
            Filters = [new Filter("tag:fathom.io/cluster", ["c"])],
        })).NetworkInterfaces;

    [Fact]
    public async Task A_create_repeated_with_its_client_token_returns_the_first_eni_and_makes_no_second()
    {
        var first = (await _lab.Client.CreateNetworkInterfaceAsync(Create("token-1"))).NetworkInterface;
        var again = (await _lab.Client.CreateNetworkInterfaceAsync(Create("token-1"))).NetworkInterface;
        Assert.Equal((first.NetworkInterfaceId, first.MacAddress, first.PrivateIpAddress), (again.NetworkInterfaceId, again.MacAddress, again.PrivateIpAddress));
        Assert.Single(await All());

        // Another token, or none, is another ENI.
        await _lab.Client.CreateNetworkInterfaceAsync(Create("token-2"));
        await _lab.Client.CreateNetworkInterfaceAsync(Create(null));
        Assert.Equal(3, (await All()).Count);
    }

    [Fact]
    public async Task A_used_client_token_with_other_parameters_is_IdempotentParameterMismatch()
    {
        await _lab.Client.CreateNetworkInterfaceAsync(Create("token-1"));
        var e = await Assert.ThrowsAsync<AmazonEC2Exception>(() => _lab.Client.CreateNetworkInterfaceAsync(Create("token-1", "another")));
        Assert.Equal("IdempotentParameterMismatch", e.ErrorCode);
        Assert.Single(await All());
    }
}
