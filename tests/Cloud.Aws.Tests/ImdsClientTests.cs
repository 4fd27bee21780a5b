using System.Net;
using System.Net.NetworkInformation;
using Microsoft.Extensions.Time.Testing;

namespace Fathom.Cloud.Aws.Tests;

/// <summary>The IMDSv2 client against the lab's metadata service, served on loopback and answering per calling instance.</summary>
public sealed class ImdsClientTests : IAsyncLifetime
{
    private readonly FakeTimeProvider _serverTime = new(DateTimeOffset.UtcNow);
    private LabCloud _lab = null!;

    public async Task InitializeAsync() => _lab = await LabCloud.StartAsync(_serverTime);

    public async Task DisposeAsync() => await _lab.DisposeAsync();

    /// <summary>Counts what goes over the wire.</summary>
    private sealed class CountingHandler(HttpMessageHandler inner) : DelegatingHandler(inner)
    {
        private int _puts, _gets;
        public int Puts => _puts;
        public int Gets => _gets;
        public List<string?> TokensSent { get; } = [];

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            if (request.Method == HttpMethod.Put) Interlocked.Increment(ref _puts);
            else Interlocked.Increment(ref _gets);
            lock (TokensSent) TokensSent.Add(request.Headers.TryGetValues(ImdsClient.TokenHeader, out var v) ? v.Single() : null);
            return base.SendAsync(request, cancellationToken);
        }
    }

    [Fact]
    public async Task A_token_is_asked_for_once_then_sent_with_every_GET()
    {
        var wire = new CountingHandler(_lab.HandlerFor(_lab.Large.PrivateIp));
        var imds = _lab.ImdsClientFor(_lab.Large, wire);
        Assert.Equal(_lab.Large.InstanceId, await imds.GetAsync("instance-id"));
        Assert.Equal("m5.large", await imds.GetAsync("instance-type"));
        Assert.Equal((1, 2), (wire.Puts, wire.Gets));
        Assert.Null(wire.TokensSent[0]);
        Assert.NotNull(wire.TokensSent[1]);
        Assert.Equal(wire.TokensSent[1], wire.TokensSent[2]);
    }

    [Fact]
    public async Task A_GET_without_a_token_is_refused()
    {
        using var http = new HttpClient(_lab.HandlerFor(_lab.Large.PrivateIp), disposeHandler: false) { BaseAddress = _lab.ImdsUrl };
        using var bare = await http.GetAsync("latest/meta-data/instance-id");
        Assert.Equal(HttpStatusCode.Unauthorized, bare.StatusCode);
    }

    [Fact]
    public async Task It_reads_the_identity_of_the_instance_it_runs_on()
    {
        var big = await _lab.ImdsClientFor(_lab.Big).GetIdentityAsync();
        Assert.Equal(new InstanceIdentity(
            _lab.Big.InstanceId, "c5.4xlarge", LabCloud.Az, LabCloud.Region, _lab.Big.PrimaryNetworkInterfaceId,
            PhysicalAddress.Parse(_lab.Big.MacAddress), _lab.Subnet1.SubnetId, IPNetwork.Parse("127.0.1.0/24"),
            [_lab.Cloud.DefaultSecurityGroupId], "vpc-0123456789abcdef0", [LabCloud.VpcCidr]) with
        {
            // Lists compare by reference in records: compare them apart.
            SecurityGroupIds = big.SecurityGroupIds,
            VpcCidrs = big.VpcCidrs,
        }, big);
        Assert.Equal([_lab.Cloud.DefaultSecurityGroupId], big.SecurityGroupIds);
        Assert.Equal([LabCloud.VpcCidr], big.VpcCidrs);
        Assert.Equal(_lab.Large.InstanceId, (await _lab.ImdsClientFor(_lab.Large).GetIdentityAsync()).InstanceId);
    }

    [Fact]
    public async Task The_token_is_renewed_before_it_expires()
    {
        var clientTime = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var wire = new CountingHandler(_lab.HandlerFor(_lab.Large.PrivateIp));
        var imds = _lab.ImdsClientFor(_lab.Large, wire, clientTime,
            new ImdsClientOptions { TokenTtl = TimeSpan.FromSeconds(60), RefreshBeforeExpiry = TimeSpan.FromSeconds(10) });
        await imds.GetAsync("instance-id");
        clientTime.Advance(TimeSpan.FromSeconds(49));
        await imds.GetAsync("instance-id");
        Assert.Equal(1, wire.Puts);
        clientTime.Advance(TimeSpan.FromSeconds(2)); // 9 s left: under the margin
        await imds.GetAsync("instance-id");
        Assert.Equal(2, wire.Puts);
        Assert.NotEqual(wire.TokensSent[1], wire.TokensSent[^1]);
    }

    [Fact]
    public async Task A_token_the_service_no_longer_honours_is_replaced_once()
    {
        var wire = new CountingHandler(_lab.HandlerFor(_lab.Large.PrivateIp));
        var imds = _lab.ImdsClientFor(_lab.Large, wire, options: new ImdsClientOptions { TokenTtl = TimeSpan.FromSeconds(60) });
        await imds.GetAsync("instance-id");
        _serverTime.Advance(TimeSpan.FromSeconds(61)); // the service's clock runs ahead: it has expired the token
        Assert.Equal(_lab.Large.InstanceId, await imds.GetAsync("instance-id"));
        Assert.Equal((2, 3), (wire.Puts, wire.Gets));
    }

    [Fact]
    public async Task A_missing_path_is_NotFound()
    {
        var e = await Assert.ThrowsAsync<CloudException>(() => _lab.ImdsClientFor(_lab.Large).GetAsync("network/interfaces/macs/02:00:00:00:00:00/interface-id"));
        Assert.Equal((CloudErrorKind.NotFound, "Imds.404", HttpStatusCode.NotFound), (e.Kind, e.Code, e.StatusCode));
    }

    [Fact]
    public async Task A_caller_that_is_no_instance_is_refused()
    {
        var imds = new ImdsClient(new ImdsClientOptions { Endpoint = _lab.ImdsUrl });
        using var _ = imds;
        var e = await Assert.ThrowsAsync<CloudException>(() => imds.GetAsync("instance-id")); // from 127.0.0.1, nobody's address
        Assert.Equal((CloudErrorKind.Invalid, "Imds.403"), (e.Kind, e.Code));
    }

    [Fact]
    public async Task An_unreachable_service_is_Transient()
    {
        var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        using var imds = new ImdsClient(new ImdsClientOptions { Endpoint = new Uri($"http://127.0.0.1:{port}/") });
        var e = await Assert.ThrowsAsync<CloudException>(() => imds.GetAsync("instance-id"));
        Assert.Equal((CloudErrorKind.Transient, "Imds.Unreachable"), (e.Kind, e.Code));
    }

    [Fact]
    public async Task A_silent_service_times_out_as_Transient()
    {
        // Accepts the connection and never answers, like an answer dropped by a hop limit.
        var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        try
        {
            var port = ((IPEndPoint)listener.LocalEndpoint).Port;
            using var imds = new ImdsClient(new ImdsClientOptions { Endpoint = new Uri($"http://127.0.0.1:{port}/"), RequestTimeout = TimeSpan.FromMilliseconds(200) });
            var e = await Assert.ThrowsAsync<CloudException>(() => imds.GetAsync("instance-id"));
            Assert.Equal((CloudErrorKind.Transient, "Imds.Timeout"), (e.Kind, e.Code));
        }
        finally
        {
            listener.Stop();
        }
    }
}
