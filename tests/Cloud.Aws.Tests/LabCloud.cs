using System.Net;
using System.Net.Sockets;
using Fathom.Lab.Ec2;
using Fathom.Lab.Imds;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Fathom.Cloud.Aws.Tests;

/// <summary>
/// The lab's emulated EC2 API and its IMDSv2 service, both in-process on 127.0.0.1 (no namespaces,
/// no root), and <see cref="AwsCloudProvider"/>s pointed at them. Fresh per test.
/// </summary>
/// <remarks>
/// IMDS tells which instance is calling by the request's source address. So the VPC is
/// 127.0.0.0/16: an instance's private address is then a loopback address this machine can send
/// from, and a client bound to it is that instance (<see cref="HandlerFor"/>). The addresses mean
/// nothing else here — the fabric is <see cref="NullVpcFabric"/>.
/// </remarks>
internal sealed class LabCloud : IAsyncDisposable
{
    public const string Region = "us-east-1";
    public const string Az = "us-east-1a";
    public static readonly IPNetwork VpcCidr = IPNetwork.Parse("127.0.0.0/16");

    private readonly List<IDisposable> _owned = [];
    private WebApplication? _imdsApp;

    public Ec2Cloud Cloud { get; }
    public FaultPlan Faults { get; } = new(new Random(7));
    public Ec2Server Ec2 { get; private set; } = null!;
    public Uri ImdsUrl { get; private set; } = null!;
    public InstanceMetadataService Imds { get; }

    /// <summary>127.0.1.0/24 and 127.0.2.0/24 in us-east-1a; 127.0.3.0/28 (11 usable addresses) for exhaustion; 127.0.4.0/24 in us-east-1b.</summary>
    public Subnet Subnet1 { get; }
    public Subnet Tiny { get; }
    public Subnet OtherAz { get; }

    /// <summary>An m5.large (3 ENIs × 10 IPs) and a c5.4xlarge (8 × 30) in subnet 1.</summary>
    public Instance Large { get; private set; } = null!;
    public Instance Big { get; private set; } = null!;

    private LabCloud(TimeProvider? imdsTime, TimeSpan eniVisibilityDelay)
    {
        Cloud = new Ec2Cloud(new NullVpcFabric(), new Ec2CloudOptions { VpcId = "vpc-0123456789abcdef0", VpcCidr = VpcCidr }, random: new Random(42));
        Subnet1 = Cloud.CreateSubnet("127.0.1.0/24", Az);
        Cloud.CreateSubnet("127.0.2.0/24", Az);
        Tiny = Cloud.CreateSubnet("127.0.3.0/28", Az);
        OtherAz = Cloud.CreateSubnet("127.0.4.0/24", "us-east-1b");
        // As the lab server does with its fabric: a new ENI shows in IMDS only some time after its attach.
        Imds = new InstanceMetadataService(Cloud, id => Cloud.TryGetEni(id, out var eni) ? eni.Attachment?.AttachTime : null, imdsTime)
        {
            EniVisibilityDelay = eniVisibilityDelay,
        };
    }

    /// <param name="imdsTime">The metadata service's clock (token expiry, the ENI delay).</param>
    /// <param name="eniVisibilityDelay">How long after its attach a secondary ENI appears in IMDS (default: at once).</param>
    public static async Task<LabCloud> StartAsync(TimeProvider? imdsTime = null, TimeSpan eniVisibilityDelay = default)
    {
        var lab = new LabCloud(imdsTime, eniVisibilityDelay);
        lab.Large = await lab.Cloud.LaunchInstanceAsync("m5.large", lab.Subnet1.SubnetId, "node-large");
        lab.Big = await lab.Cloud.LaunchInstanceAsync("c5.4xlarge", lab.Subnet1.SubnetId, "node-big");
        lab.Ec2 = await Ec2Server.StartOnLoopbackAsync(lab.Cloud, Ec2Credentials.Lab, lab.Faults);
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(options => options.Listen(IPAddress.Loopback, 0));
        lab._imdsApp = builder.Build();
        ImdsEndpoint.Map(lab._imdsApp, lab.Imds);
        await lab._imdsApp.StartAsync();
        var address = lab._imdsApp.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.Single();
        lab.ImdsUrl = new Uri(address.EndsWith('/') ? address : address + "/");
        return lab;
    }

    /// <summary>An HTTP handler whose connections leave from <paramref name="source"/>: to IMDS, the instance owning that address.</summary>
    public SocketsHttpHandler HandlerFor(IPAddress source)
    {
        var handler = new SocketsHttpHandler
        {
            UseProxy = false,
            ConnectCallback = async (context, cancellationToken) =>
            {
                var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                try
                {
                    socket.Bind(new IPEndPoint(source, 0));
                    await socket.ConnectAsync(context.DnsEndPoint, cancellationToken);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            },
        };
        _owned.Add(handler);
        return handler;
    }

    /// <summary>An IMDS client as <paramref name="instance"/> would have one.</summary>
    public ImdsClient ImdsClientFor(Instance instance, HttpMessageHandler? handler = null, TimeProvider? time = null, ImdsClientOptions? options = null)
    {
        var client = new ImdsClient((options ?? new ImdsClientOptions()) with { Endpoint = ImdsUrl }, handler ?? HandlerFor(instance.PrivateIp), time);
        _owned.Add(client);
        return client;
    }

    /// <summary>The provider the agent on <paramref name="instance"/> would use: the lab's EC2 URL and key pair, IMDS from the instance's address.</summary>
    public AwsCloudProvider ProviderFor(Instance instance, Uri? ec2Url = null)
    {
        var provider = new AwsCloudProvider(new AwsCloudOptions
        {
            Region = Region,
            ServiceUrl = ec2Url ?? Ec2.Url,
            StaticCredentials = new AwsStaticCredentials(Ec2Credentials.Lab.AccessKeyId, Ec2Credentials.Lab.SecretAccessKey),
            RequestTimeout = TimeSpan.FromSeconds(10),
        }, ImdsClientFor(instance));
        _owned.Add(provider);
        return provider;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var owned in Enumerable.Reverse(_owned)) owned.Dispose();
        if (_imdsApp is not null)
        {
            await _imdsApp.StopAsync();
            await _imdsApp.DisposeAsync();
        }
        if (Ec2 is not null) await Ec2.DisposeAsync();
    }
}
