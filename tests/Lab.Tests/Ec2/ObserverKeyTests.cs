using Amazon.EC2;
using Amazon.EC2.Model;
using Amazon.Runtime;
using Fathom.Lab.Ec2;

namespace Fathom.Lab.Tests.Ec2;

/// <summary>
/// The lab's observer key (<see cref="Ec2Api"/>'s <c>observer</c>): while every fault hits every
/// request signed with the agents' key, the observer's requests read and change the cloud untouched —
/// so a test can audit what the cloud holds while the agents meet the weather — and its signature is
/// checked all the same.
/// </summary>
public sealed class ObserverKeyTests : IAsyncDisposable
{
    private static readonly Ec2Credentials Observer = new("AKIAFATHOMOBSERVER01", "fathom-observer-secret/doNotUseInProduction");
    private readonly Ec2Cloud _cloud = new(new NullVpcFabric(), new Ec2CloudOptions { VpcId = "vpc-0123456789abcdef0" }, random: new Random(42));
    private readonly FaultPlan _faults = FaultPlan.Parse("throttle:DescribeNetworkInterfaces=1,error:DescribeSubnets=1,lost:CreateNetworkInterface=1");
    private Ec2Server? _server;

    public async ValueTask DisposeAsync()
    {
        if (_server is not null) await _server.DisposeAsync();
    }

    [Fact]
    public async Task Faults_spare_the_observers_requests_and_hit_everyone_elses()
    {
        var subnet = _cloud.CreateSubnet("10.0.1.0/24", "us-east-1a");
        _server = await Ec2Server.StartOnLoopbackAsync(_cloud, Ec2Credentials.Lab, _faults, observer: Observer);
        using var agent = Client(Ec2Credentials.Lab.AccessKeyId, Ec2Credentials.Lab.SecretAccessKey);
        using var observer = Client(Observer.AccessKeyId, Observer.SecretAccessKey);

        Assert.Equal("RequestLimitExceeded", (await Assert.ThrowsAsync<AmazonEC2Exception>(() => agent.DescribeNetworkInterfacesAsync(new DescribeNetworkInterfacesRequest()))).ErrorCode);
        Assert.Contains((await Assert.ThrowsAsync<AmazonEC2Exception>(() => agent.DescribeSubnetsAsync(new DescribeSubnetsRequest()))).ErrorCode, (string[])["InternalError", "Unavailable"]);
        // The agent's create took effect; its answer was lost.
        Assert.Equal("InternalError", (await Assert.ThrowsAsync<AmazonEC2Exception>(() => agent.CreateNetworkInterfaceAsync(new CreateNetworkInterfaceRequest { SubnetId = subnet.SubnetId }))).ErrorCode);

        var created = await observer.CreateNetworkInterfaceAsync(new CreateNetworkInterfaceRequest { SubnetId = subnet.SubnetId });
        var all = (await observer.DescribeNetworkInterfacesAsync(new DescribeNetworkInterfacesRequest())).NetworkInterfaces;
        Assert.Equal(2, all.Count);
        Assert.Contains(all, e => e.NetworkInterfaceId == created.NetworkInterface.NetworkInterfaceId);
        Assert.Single((await observer.DescribeSubnetsAsync(new DescribeSubnetsRequest())).Subnets);
    }

    [Fact]
    public async Task The_observers_signature_is_checked_like_any_other()
    {
        _server = await Ec2Server.StartOnLoopbackAsync(_cloud, Ec2Credentials.Lab, _faults, observer: Observer);
        using var forged = Client(Observer.AccessKeyId, "not-the-observer-secret");

        Assert.Equal("AuthFailure", (await Assert.ThrowsAsync<AmazonEC2Exception>(() => forged.DescribeSubnetsAsync(new DescribeSubnetsRequest()))).ErrorCode);
    }

    [Fact]
    public async Task An_unsigned_request_is_an_auth_failure_with_an_observer_key_too()
    {
        _server = await Ec2Server.StartOnLoopbackAsync(_cloud, Ec2Credentials.Lab, _faults, observer: Observer);
        using var http = new HttpClient();
        using var answer = await http.PostAsync(_server.Url, new StringContent("Action=DescribeSubnets&Version=2016-11-15", System.Text.Encoding.UTF8, "application/x-www-form-urlencoded"));

        Assert.Equal(System.Net.HttpStatusCode.Unauthorized, answer.StatusCode);
        Assert.Contains("<Code>AuthFailure</Code>", await answer.Content.ReadAsStringAsync());
    }

    private AmazonEC2Client Client(string key, string secret) =>
        new(new BasicAWSCredentials(key, secret), new AmazonEC2Config
        {
            ServiceURL = _server!.Url.ToString(),
            AuthenticationRegion = Ec2TestLab.Region,
            MaxErrorRetry = 0,
            Timeout = TimeSpan.FromSeconds(30),
        });
}
