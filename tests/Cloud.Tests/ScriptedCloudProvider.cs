using System.Collections.Concurrent;
using System.Net;
using System.Net.NetworkInformation;
using Microsoft.Extensions.Time.Testing;

namespace Fathom.Cloud.Tests;

/// <summary>
/// A provider whose answers a test writes in advance: each call takes the next scripted failure
/// (null: succeed) and can take some time on the fake clock. Only for the decorator's own logic;
/// real requests are tested against the lab's EC2 in Cloud.Aws.Tests.
/// </summary>
internal sealed class ScriptedCloudProvider(FakeTimeProvider? clock = null) : ICloudProvider
{
    private readonly ConcurrentQueue<Exception?> _script = new();
    private readonly ConcurrentQueue<(CloudOperation Operation, object? Argument)> _calls = new();

    /// <summary>How long each call takes on the fake clock.</summary>
    public TimeSpan Latency { get; set; }

    /// <summary>Called during each call, before its scripted outcome (to cancel mid-call, for instance).</summary>
    public Action<CloudOperation>? During { get; set; }

    /// <summary>Queues outcomes: an exception to throw, or null for success.</summary>
    public ScriptedCloudProvider Then(params Exception?[] outcomes)
    {
        foreach (var outcome in outcomes) _script.Enqueue(outcome);
        return this;
    }

    public IReadOnlyList<(CloudOperation Operation, object? Argument)> Calls => [.. _calls];

    /// <summary>Eni answers: what a describe returns.</summary>
    public Func<Eni>? EniAnswer { get; set; }

    private Task<T> RunAsync<T>(CloudOperation operation, object? argument, Func<T> result, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        _calls.Enqueue((operation, argument));
        if (Latency > TimeSpan.Zero) clock?.Advance(Latency);
        During?.Invoke(operation);
        cancellationToken.ThrowIfCancellationRequested();
        return _script.TryDequeue(out var failure) && failure is not null ? Task.FromException<T>(failure) : Task.FromResult(result());
    }

    public static Eni SampleEni(string id = "eni-0123456789abcdef0", EniAttachmentState state = EniAttachmentState.Detached, string? attachmentId = null) =>
        new(id, PhysicalAddress.Parse("02:00:00:00:00:01"), IPAddress.Parse("10.0.1.10"), [], "subnet-1", IPNetwork.Parse("10.0.1.0/24"), ["sg-1"],
            state, attachmentId, attachmentId is null ? null : "i-1", attachmentId is null ? null : 1, "", new Dictionary<string, string>());

    public Task<InstanceIdentity> DescribeSelfAsync(CancellationToken cancellationToken = default) =>
        RunAsync(CloudOperation.DescribeSelf, null, () => new InstanceIdentity("i-1", "m5.large", "us-east-1a", "us-east-1", "eni-1",
            PhysicalAddress.Parse("02:00:00:00:00:01"), "subnet-1", IPNetwork.Parse("10.0.1.0/24"), ["sg-1"], "vpc-1", [IPNetwork.Parse("10.0.0.0/16")]), cancellationToken);

    /// <summary>What the metadata service lists; null: the sample ENI's MAC.</summary>
    public Func<IReadOnlyList<PhysicalAddress>>? MacsAnswer { get; set; }

    public Task<IReadOnlyList<PhysicalAddress>> DescribeLocalMacsAsync(CancellationToken cancellationToken = default) =>
        RunAsync(CloudOperation.DescribeLocalMacs, null, () => MacsAnswer?.Invoke() ?? [SampleEni().Mac], cancellationToken);

    public Task<InstanceLimits> GetInstanceLimitsAsync(string instanceType, CancellationToken cancellationToken = default) =>
        RunAsync(CloudOperation.GetInstanceLimits, instanceType, () => new InstanceLimits(instanceType, 3, 10), cancellationToken);

    public Task<SubnetInfo> DescribeSubnetAsync(string subnetId, CancellationToken cancellationToken = default) =>
        RunAsync(CloudOperation.DescribeSubnet, subnetId, () => new SubnetInfo(subnetId, IPNetwork.Parse("10.0.1.0/24"), "us-east-1a", 250), cancellationToken);

    public Task<Eni> CreateEniAsync(CreateEniRequest request, CancellationToken cancellationToken = default) =>
        RunAsync(CloudOperation.CreateEni, request, () => SampleEni(), cancellationToken);

    public Task<string> AttachEniAsync(string eniId, string instanceId, int deviceIndex, CancellationToken cancellationToken = default) =>
        RunAsync(CloudOperation.AttachEni, eniId, () => "eni-attach-1", cancellationToken);

    public Task DetachEniAsync(string attachmentId, bool force = false, CancellationToken cancellationToken = default) =>
        RunAsync(CloudOperation.DetachEni, attachmentId, () => true, cancellationToken);

    public Task DeleteEniAsync(string eniId, CancellationToken cancellationToken = default) =>
        RunAsync(CloudOperation.DeleteEni, eniId, () => true, cancellationToken);

    public Task<IReadOnlyList<IPAddress>> AssignPrivateIpsAsync(string eniId, int count, CancellationToken cancellationToken = default) =>
        RunAsync<IReadOnlyList<IPAddress>>(CloudOperation.AssignPrivateIps, eniId, () => [.. Enumerable.Range(0, count).Select(i => IPAddress.Parse($"10.0.1.{20 + i}"))], cancellationToken);

    public Task ReassignPrivateIpAsync(string eniId, IPAddress address, CancellationToken cancellationToken = default) =>
        RunAsync(CloudOperation.AssignPrivateIps, eniId, () => true, cancellationToken);

    public Task UnassignPrivateIpsAsync(string eniId, IReadOnlyList<IPAddress> addresses, CancellationToken cancellationToken = default) =>
        RunAsync(CloudOperation.UnassignPrivateIps, eniId, () => true, cancellationToken);

    public Task<IReadOnlyList<Eni>> DescribeEnisAsync(EniQuery query, CancellationToken cancellationToken = default) =>
        RunAsync<IReadOnlyList<Eni>>(CloudOperation.DescribeEnis, query, () => [EniAnswer?.Invoke() ?? SampleEni()], cancellationToken);

    public Task CreateTagsAsync(string eniId, IReadOnlyDictionary<string, string> tags, CancellationToken cancellationToken = default) =>
        RunAsync(CloudOperation.CreateTags, eniId, () => true, cancellationToken);

    public Task DeleteTagsAsync(string eniId, IReadOnlyList<string> keys, CancellationToken cancellationToken = default) =>
        RunAsync(CloudOperation.DeleteTags, eniId, () => true, cancellationToken);
}
