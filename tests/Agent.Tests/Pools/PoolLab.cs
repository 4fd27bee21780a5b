using System.Net;
using System.Net.NetworkInformation;
using Fathom.Agent.Pools;
using Fathom.Agent.Protocol;
using Fathom.Agent.State;
using Fathom.Agent.Teardown;
using Fathom.Cloud;
using Fathom.Cloud.Aws;
using Fathom.Lab.Ec2;

namespace Fathom.Agent.Tests.Pools;

/// <summary>
/// The lab's emulated EC2 in-process on 127.0.0.1, reached over HTTP by the real
/// <see cref="AwsCloudProvider"/> (so the fault plan's throttling and 5xx go through the real
/// client and the <see cref="ResilientCloudProvider"/>). The metadata service is answered from the
/// lab's state directly (<see cref="LabMetadata"/>): what IMDS would say, with no delay.
/// </summary>
internal sealed class PoolLab : IAsyncDisposable
{
    private readonly List<IDisposable> _owned = [];

    public Ec2Cloud Cloud { get; }
    public FaultPlan Faults { get; } = new(new Random(7));
    public Ec2Server Ec2 { get; private set; } = null!;
    public Subnet Subnet1 { get; }
    public Subnet Tiny { get; }

    private PoolLab()
    {
        Cloud = new Ec2Cloud(new NullVpcFabric(), new Ec2CloudOptions { VpcId = "vpc-0123456789abcdef0", VpcCidr = IPNetwork.Parse("10.9.0.0/16") },
            random: new Random(42));
        Subnet1 = Cloud.CreateSubnet("10.9.1.0/24", "us-east-1a");
        Tiny = Cloud.CreateSubnet("10.9.3.0/28", "us-east-1a");
    }

    public static async Task<PoolLab> StartAsync()
    {
        var lab = new PoolLab();
        lab.Ec2 = await Ec2Server.StartOnLoopbackAsync(lab.Cloud, Ec2Credentials.Lab, lab.Faults);
        return lab;
    }

    public Task<Instance> LaunchAsync(string type, string node) => Cloud.LaunchInstanceAsync(type, Subnet1.SubnetId, node);

    /// <summary>The provider the agent on <paramref name="instance"/> would have, with fast retries.</summary>
    public ResilientCloudProvider ProviderFor(Instance instance)
    {
        // Never asked: LabMetadata answers what the provider would ask IMDS.
        var imds = new ImdsClient(new ImdsClientOptions { Endpoint = new Uri("http://127.0.0.1:9/") });
        var aws = new AwsCloudProvider(new AwsCloudOptions
        {
            Region = "us-east-1",
            ServiceUrl = Ec2.Url,
            StaticCredentials = new AwsStaticCredentials(Ec2Credentials.Lab.AccessKeyId, Ec2Credentials.Lab.SecretAccessKey),
            RequestTimeout = TimeSpan.FromSeconds(10),
        }, imds);
        var resilient = new ResilientCloudProvider(new LabMetadata(aws, Cloud, instance.InstanceId), new CloudResilienceOptions
        {
            Backoff = new BackoffPolicy { MaxAttempts = 12, BaseDelay = TimeSpan.FromMilliseconds(2), MaxDelay = TimeSpan.FromMilliseconds(20) },
        }, random: new Random(11));
        _owned.AddRange([imds, aws, resilient]);
        return resilient;
    }

    /// <summary>
    /// ENIs tagged for <paramref name="node"/> of cluster "test", created and attached to
    /// <paramref name="instance"/> at <paramref name="indexes"/> from outside the agent (by hand, or by
    /// an agent killed before it recorded them); returns their ids.
    /// </summary>
    public async Task<List<string>> AttachFromOutsideAsync(Instance instance, string node, params int[] indexes)
    {
        var cloud = ProviderFor(instance);
        var ids = new List<string>();
        foreach (var index in indexes)
        {
            var eni = await cloud.CreateEniAsync(new CreateEniRequest { SubnetId = Subnet1.SubnetId, Tags = EniTags.For("test", node, DateTimeOffset.UtcNow) });
            await cloud.AttachEniAsync(eni.EniId, instance.InstanceId, index);
            ids.Add(eni.EniId);
        }
        return ids;
    }

    /// <summary>Every ENI tagged for <paramref name="cluster"/>, as EC2 holds them.</summary>
    public IReadOnlyList<Fathom.Lab.Ec2.NetworkInterface> Tagged(string cluster) =>
        [.. Cloud.NetworkInterfaces.Where(e => e.Tags.TryGetValue(EniTags.Cluster, out var c) && c == cluster)];

    public async ValueTask DisposeAsync()
    {
        foreach (var owned in Enumerable.Reverse(_owned)) owned.Dispose();
        if (Ec2 is not null) await Ec2.DisposeAsync();
    }
}

/// <summary>EC2 through <paramref name="inner"/>; the instance's metadata from the lab's state, as IMDS serves it.</summary>
internal sealed class LabMetadata(ICloudProvider inner, Ec2Cloud lab, string instanceId) : ICloudProvider
{
    public Task<InstanceIdentity> DescribeSelfAsync(CancellationToken cancellationToken = default)
    {
        Assert.True(lab.TryGetInstance(instanceId, out var instance));
        Assert.True(lab.TryGetSubnet(instance.SubnetId, out var subnet));
        return Task.FromResult(new InstanceIdentity(instance.InstanceId, instance.InstanceType, instance.AvailabilityZone, lab.Region,
            instance.PrimaryNetworkInterfaceId, PhysicalAddress.Parse(instance.MacAddress), instance.SubnetId, subnet.Cidr,
            instance.SecurityGroupIds, lab.VpcId, [lab.VpcCidr]));
    }

    public Task<IReadOnlyList<PhysicalAddress>> DescribeLocalMacsAsync(CancellationToken cancellationToken = default) =>
        Task.FromResult<IReadOnlyList<PhysicalAddress>>([.. lab.GetInstanceEnis(instanceId)
            .Where(e => e.Attachment?.Status == AttachmentState.Attached).Select(e => PhysicalAddress.Parse(e.MacAddress))]);

    public Task<InstanceLimits> GetInstanceLimitsAsync(string instanceType, CancellationToken cancellationToken = default) =>
        inner.GetInstanceLimitsAsync(instanceType, cancellationToken);

    public Task<SubnetInfo> DescribeSubnetAsync(string subnetId, CancellationToken cancellationToken = default) =>
        inner.DescribeSubnetAsync(subnetId, cancellationToken);

    public Task<Eni> CreateEniAsync(CreateEniRequest request, CancellationToken cancellationToken = default) =>
        inner.CreateEniAsync(request, cancellationToken);

    public Task<string> AttachEniAsync(string eniId, string instanceId, int deviceIndex, CancellationToken cancellationToken = default) =>
        inner.AttachEniAsync(eniId, instanceId, deviceIndex, cancellationToken);

    public Task DetachEniAsync(string attachmentId, bool force = false, CancellationToken cancellationToken = default) =>
        inner.DetachEniAsync(attachmentId, force, cancellationToken);

    public Task DeleteEniAsync(string eniId, CancellationToken cancellationToken = default) => inner.DeleteEniAsync(eniId, cancellationToken);

    public Task<IReadOnlyList<IPAddress>> AssignPrivateIpsAsync(string eniId, int count, CancellationToken cancellationToken = default) =>
        inner.AssignPrivateIpsAsync(eniId, count, cancellationToken);

    public Task ReassignPrivateIpAsync(string eniId, IPAddress address, CancellationToken cancellationToken = default) =>
        inner.ReassignPrivateIpAsync(eniId, address, cancellationToken);

    public Task UnassignPrivateIpsAsync(string eniId, IReadOnlyList<IPAddress> addresses, CancellationToken cancellationToken = default) =>
        inner.UnassignPrivateIpsAsync(eniId, addresses, cancellationToken);

    public Task<IReadOnlyList<Eni>> DescribeEnisAsync(EniQuery query, CancellationToken cancellationToken = default) =>
        inner.DescribeEnisAsync(query, cancellationToken);

    public Task CreateTagsAsync(string eniId, IReadOnlyDictionary<string, string> tags, CancellationToken cancellationToken = default) =>
        inner.CreateTagsAsync(eniId, tags, cancellationToken);

    public Task DeleteTagsAsync(string eniId, IReadOnlyList<string> keys, CancellationToken cancellationToken = default) =>
        inner.DeleteTagsAsync(eniId, keys, cancellationToken);
}

/// <summary>The node's devices without a kernel: an ENI's device is named after its MAC; route tables are recorded.</summary>
internal sealed class FakeNodeDevices : INodeDevices
{
    private readonly Lock _gate = new();
    public List<(string Device, int Table, IPAddress Gateway)> Tables { get; } = [];

    public string? NameOf(PhysicalAddress mac) => "e" + Convert.ToHexStringLower(mac.GetAddressBytes())[..12];

    public void InstallRouting(string device, int table, IPAddress gateway, IPAddress primaryIp)
    {
        lock (_gate) Tables.Add((device, table, gateway));
    }
}

/// <summary>
/// One node's agent side of the pools, over a state directory of its own: store, cooldown, teardown
/// queue (no-op executor), pool, refiller, allocator. <see cref="DisposeAsync"/> stops it without
/// any cleanup, as a SIGKILL would leave things; a new one on the same directory is a restart.
/// </summary>
internal sealed class PoolNode : IAsyncDisposable
{
    private readonly StateDirectory _state;

    private PoolNode(StateDirectory state, AllocationStore store, IpCooldown cooldown, TeardownQueue teardown, EniPool pool, Refiller refiller,
        PoolAllocator allocator, FakeNodeDevices devices)
    {
        Devices = devices;
        _state = state;
        Store = store;
        Cooldown = cooldown;
        Teardown = teardown;
        Pool = pool;
        Refiller = refiller;
        Allocator = allocator;
    }

    public AllocationStore Store { get; }
    public IpCooldown Cooldown { get; }
    public TeardownQueue Teardown { get; }
    public EniPool Pool { get; }
    public Refiller Refiller { get; }
    public PoolAllocator Allocator { get; }
    public FakeNodeDevices Devices { get; }

    public static async Task<PoolNode> StartAsync(ICloudProvider cloud, string stateDir, PoolTargets targets, AgentLog log,
        string cluster = "test", string node = "node-1", PoolAllocatorOptions? allocator = null, TimeSpan? cooldown = null,
        IReadOnlyList<string>? subnets = null, bool start = true)
    {
        var state = StateDirectory.Open(stateDir, log, TimeProvider.System, syncWrites: false);
        var store = AllocationStore.Open(state);
        var cooling = IpCooldown.Open(state, cooldown ?? TimeSpan.FromSeconds(30));
        EniPool? poolRef = null;
        var teardown = TeardownQueue.Open(state, (_, _) => { poolRef?.Notify(); return Task.CompletedTask; },
            new TeardownQueueOptions { InitialBackoff = TimeSpan.FromMilliseconds(10) });
        var self = await cloud.DescribeSelfAsync();
        var limits = await cloud.GetInstanceLimitsAsync(self.InstanceType);
        var devices = new FakeNodeDevices();
        var pool = new EniPool(self, limits, store, cooling, teardown, devices, log);
        poolRef = pool;
        teardown.Start();
        var refiller = new Refiller(pool, cloud, new RefillerOptions
        {
            Cluster = cluster,
            NodeName = node,
            Targets = targets,
            SubnetIds = subnets ?? [],
            Interval = TimeSpan.FromMilliseconds(200),
            AttachmentWait = new AttachmentWaitOptions { InitialInterval = TimeSpan.FromMilliseconds(5), MaxInterval = TimeSpan.FromMilliseconds(50) },
        }, log);
        var allocate = new PoolAllocator(pool, refiller, teardown, allocator ?? new PoolAllocatorOptions { Timeout = TimeSpan.FromSeconds(5) });
        var result = new PoolNode(state, store, cooling, teardown, pool, refiller, allocate, devices);
        if (start) await refiller.StartAsync();
        return result;
    }

    public ValueTask<AgentReply> AllocateAsync(string containerId, AllocationMode mode, bool fallback = false) =>
        Allocator.AllocateAsync(new AllocateRequest
        {
            Network = "net", ContainerId = containerId, IfName = "eth0", RequestedMode = mode, FallbackAllowed = fallback,
            NetnsPath = "/var/run/netns/" + containerId,
        }, CancellationToken.None);

    /// <summary>Waits until <paramref name="condition"/> holds of the pool's snapshot (10 s at most).</summary>
    public async Task UntilAsync(Func<PoolSnapshot, bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
        while (!condition(Pool.Snapshot()))
        {
            if (DateTime.UtcNow > deadline)
                Assert.Fail($"timed out waiting for {what}; pool: {string.Join(", ", Pool.Snapshot().Enis)}; last failure: {Refiller.LastFailure}");
            await Task.Delay(10);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await Refiller.DisposeAsync();
        await Teardown.DisposeAsync();
        _state.Dispose();
    }
}
