using System.Net;
using System.Net.NetworkInformation;

namespace Fathom.Cloud;

/// <summary>
/// The cloud as the node agent uses it: who am I, how many ENIs and addresses may I have, and the
/// ENI lifecycle (create → attach → assign/unassign → detach → delete). Providers (AWS, the lab)
/// implement it plainly — one request per call, no retries, every failure a
/// <see cref="CloudException"/>; <see cref="ResilientCloudProvider"/> adds rate limits, backoff and
/// metrics around any of them.
/// </summary>
/// <remarks>
/// All calls are safe to make concurrently. Cancelling the token abandons the wait for the answer,
/// not necessarily the change: a cancelled attach may still complete in the cloud, which is why the
/// agent reconciles against <see cref="DescribeEnisAsync"/> on start.
/// </remarks>
public interface ICloudProvider
{
    /// <summary>This instance's identity, from the metadata service (no API call, no rate limit in the cloud's account).</summary>
    Task<InstanceIdentity> DescribeSelfAsync(CancellationToken cancellationToken = default);

    /// <summary>
    /// The MACs of the network interfaces this instance's metadata service lists. A newly attached
    /// ENI appears here some time after the API calls it attached (seconds on EC2), and the node
    /// cannot configure it before: <see cref="AttachmentWaiter"/> waits for both.
    /// </summary>
    Task<IReadOnlyList<PhysicalAddress>> DescribeLocalMacsAsync(CancellationToken cancellationToken = default);

    /// <summary>The ENI and address limits of an instance type.</summary>
    /// <exception cref="CloudException"><see cref="CloudErrorKind.Invalid"/> for a type the cloud does not know.</exception>
    Task<InstanceLimits> GetInstanceLimitsAsync(string instanceType, CancellationToken cancellationToken = default);

    /// <summary>A subnet's CIDR, zone and free address count.</summary>
    Task<SubnetInfo> DescribeSubnetAsync(string subnetId, CancellationToken cancellationToken = default);

    /// <summary>Creates an ENI, tagged as asked, not attached.</summary>
    /// <exception cref="CloudException"><see cref="CloudErrorKind.SubnetFull"/> when the subnet has no address for it; <see cref="CloudErrorKind.LimitExceeded"/> past the account's ENI quota.</exception>
    Task<Eni> CreateEniAsync(CreateEniRequest request, CancellationToken cancellationToken = default);

    /// <summary>Attaches an ENI to an instance at a device index; returns the attachment id (needed to detach).</summary>
    /// <remarks>The attachment may still be "attaching" when this returns: <see cref="AttachmentWaiter"/> waits until it is attached.</remarks>
    /// <exception cref="CloudException"><see cref="CloudErrorKind.LimitExceeded"/> (AttachmentLimitExceeded) when the instance has all the ENIs its type allows.</exception>
    Task<string> AttachEniAsync(string eniId, string instanceId, int deviceIndex, CancellationToken cancellationToken = default);

    /// <summary>Detaches an ENI by its attachment id; <paramref name="force"/> as EC2's Force (for an instance that does not answer).</summary>
    Task DetachEniAsync(string attachmentId, bool force = false, CancellationToken cancellationToken = default);

    /// <summary>Deletes a detached ENI; its addresses go back to the subnet.</summary>
    Task DeleteEniAsync(string eniId, CancellationToken cancellationToken = default);

    /// <summary>Assigns <paramref name="count"/> new secondary private addresses to an ENI, chosen by the cloud; returns them.</summary>
    /// <exception cref="CloudException"><see cref="CloudErrorKind.LimitExceeded"/> (PrivateIpAddressLimitExceeded) past the instance type's addresses per ENI; <see cref="CloudErrorKind.SubnetFull"/>.</exception>
    Task<IReadOnlyList<IPAddress>> AssignPrivateIpsAsync(string eniId, int count, CancellationToken cancellationToken = default);

    /// <summary>
    /// Makes <paramref name="address"/> a secondary address of <paramref name="eniId"/>, taking it off
    /// whichever ENI of the same subnet holds it now, in one call (EC2 AssignPrivateIpAddresses with
    /// PrivateIpAddress and AllowReassignment): how a sticky shared pod's IP follows it to another
    /// node (issue 11 §3). EC2 never lets one address sit on two ENIs, so the move is atomic.
    /// </summary>
    /// <exception cref="CloudException"><see cref="CloudErrorKind.Invalid"/> for an address outside the ENI's subnet or another ENI's
    /// primary, or where the provider cannot move addresses (host); <see cref="CloudErrorKind.LimitExceeded"/> past the addresses per ENI.</exception>
    Task ReassignPrivateIpAsync(string eniId, IPAddress address, CancellationToken cancellationToken = default);

    /// <summary>Removes these secondary addresses from an ENI.</summary>
    Task UnassignPrivateIpsAsync(string eniId, IReadOnlyList<IPAddress> addresses, CancellationToken cancellationToken = default);

    /// <summary>The ENIs matching <paramref name="query"/>, every page of them, sorted by id.</summary>
    Task<IReadOnlyList<Eni>> DescribeEnisAsync(EniQuery query, CancellationToken cancellationToken = default);

    /// <summary>Adds tags to an existing ENI, replacing the value of a key it already has (EC2 CreateTags).</summary>
    /// <exception cref="CloudException"><see cref="CloudErrorKind.NotFound"/> when the ENI does not exist; <see cref="CloudErrorKind.Invalid"/> where the provider has no tags (host).</exception>
    Task CreateTagsAsync(string eniId, IReadOnlyDictionary<string, string> tags, CancellationToken cancellationToken = default);

    /// <summary>Removes these tag keys from an ENI, whatever their values; a key it does not carry is no error (EC2 DeleteTags).</summary>
    /// <exception cref="CloudException"><see cref="CloudErrorKind.NotFound"/> when the ENI does not exist; <see cref="CloudErrorKind.Invalid"/> where the provider has no tags (host).</exception>
    Task DeleteTagsAsync(string eniId, IReadOnlyList<string> keys, CancellationToken cancellationToken = default);
}
