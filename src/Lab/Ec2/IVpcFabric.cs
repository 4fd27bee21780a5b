using System.Net;
using System.Net.NetworkInformation;

namespace Fathom.Lab.Ec2;

/// <summary>
/// What the emulated EC2 API asks of the kernel-side realization of the VPC (the "fabric").
/// The API (Ec2/) owns the state — ENIs, IPs, attachments, limits — and calls the fabric only
/// after validating a request, so a fabric never sees an invalid operation. A fabric failure
/// makes the action fail with EC2's InternalError and the state change is rolled back.
/// <see cref="NullVpcFabric"/> realizes nothing (API-only tests); Topology/ realizes it with
/// namespaces, veths and bridges.
/// </summary>
public interface IVpcFabric
{
    /// <summary>
    /// Hot-plugs the ENI into its instance: a veth carrying <see cref="EniAttachment.MacAddress"/>
    /// appears in the instance's netns as <c>eth{DeviceIndex}</c>; its peer joins the subnet bridge.
    /// </summary>
    Task AttachAsync(EniAttachment attachment, CancellationToken cancellationToken);

    /// <summary>Removes the ENI's link wherever its end is now (the instance, or a pod it was moved into).</summary>
    Task DetachAsync(EniAttachment attachment, CancellationToken cancellationToken);

    /// <summary>
    /// The ENI's private IPs changed (created, assigned, unassigned, deleted): DHCP reservations
    /// (MAC → primary IP) follow. <paramref name="eni"/> is null when the ENI was deleted.
    /// </summary>
    Task EniChangedAsync(string eniId, EniSnapshot? eni, CancellationToken cancellationToken);
}

/// <summary>An ENI attached to an instance, as the fabric needs to realize it.</summary>
/// <param name="EniId">eni-… identifier.</param>
/// <param name="InstanceId">i-… identifier of the instance (node) it is attached to.</param>
/// <param name="DeviceIndex">EC2 DeviceIndex; the device is eth{DeviceIndex} in the instance.</param>
/// <param name="MacAddress">The ENI's MAC (02:…, locally administered).</param>
/// <param name="SubnetId">subnet-… the ENI lives in.</param>
/// <param name="PrimaryIp">The ENI's primary private IPv4.</param>
public sealed record EniAttachment(string EniId, string InstanceId, int DeviceIndex, PhysicalAddress MacAddress, string SubnetId, IPAddress PrimaryIp);

/// <summary>An ENI's addressing at one instant.</summary>
public sealed record EniSnapshot(string EniId, PhysicalAddress MacAddress, string SubnetId, IPAddress PrimaryIp, IReadOnlyList<IPAddress> SecondaryIps);

/// <summary>A fabric that realizes nothing: the API alone, for tests of its state machine and wire format.</summary>
public sealed class NullVpcFabric : IVpcFabric
{
    /// <inheritdoc/>
    public Task AttachAsync(EniAttachment attachment, CancellationToken cancellationToken) => Task.CompletedTask;
    /// <inheritdoc/>
    public Task DetachAsync(EniAttachment attachment, CancellationToken cancellationToken) => Task.CompletedTask;
    /// <inheritdoc/>
    public Task EniChangedAsync(string eniId, EniSnapshot? eni, CancellationToken cancellationToken) => Task.CompletedTask;
}
