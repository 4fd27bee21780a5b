using Amazon.EC2;
using Amazon.EC2.Model;
using Amazon.Runtime;

namespace Fathom.Lab.Control;

/// <summary>
/// An AWSSDK.EC2 client pointed at a lab's loopback endpoint with its credentials: what
/// <c>lab attach</c>, the tests and any host tool use to drive the lab like a real EC2.
/// </summary>
public static class LabEc2Client
{
    /// <summary>A client for the lab; <paramref name="maxErrorRetry"/> 0 makes throttling visible.</summary>
    /// <param name="state">The lab.</param>
    /// <param name="maxErrorRetry">The SDK's retries of a throttled or failed call.</param>
    /// <param name="observer">Sign with the lab's observer key (<see cref="LabState.Observer"/>): no fault of the lab's meets this client.</param>
    public static AmazonEC2Client Create(LabState state, int maxErrorRetry = 3, bool observer = false)
    {
        var key = observer
            ? state.Observer ?? throw new InvalidOperationException($"lab '{state.Prefix}' has no observer key (started by an older fathomctl): take it down and up again")
            : state.Credentials;
        return new(new BasicAWSCredentials(key.AccessKeyId, key.SecretAccessKey), new AmazonEC2Config
        {
            ServiceURL = state.LoopbackEndpoint,
            AuthenticationRegion = state.Credentials.Region,
            MaxErrorRetry = maxErrorRetry,
            Timeout = TimeSpan.FromSeconds(30),
        });
    }

    /// <summary>
    /// CreateNetworkInterface + AttachNetworkInterface at the lowest free device index: the
    /// two calls an agent makes to grow an instance by one ENI.
    /// </summary>
    /// <returns>The new ENI's id, MAC, primary IP and device index.</returns>
    public static async Task<(string EniId, string Mac, string PrivateIp, int DeviceIndex)> AttachNewEniAsync(
        LabState state, string nodeName, string? subnetId = null, int secondaryIps = 0, CancellationToken cancellationToken = default)
    {
        var node = state.RequireNode(nodeName);
        using var ec2 = Create(state);
        var current = await ec2.DescribeNetworkInterfacesAsync(new DescribeNetworkInterfacesRequest
        {
            Filters = [new Filter("attachment.instance-id", [node.InstanceId])],
        }, cancellationToken);
        var taken = current.NetworkInterfaces.Select(e => e.Attachment?.DeviceIndex ?? -1).ToHashSet();
        var deviceIndex = Enumerable.Range(1, 64).First(i => !taken.Contains(i));
        var created = await ec2.CreateNetworkInterfaceAsync(new CreateNetworkInterfaceRequest
        {
            SubnetId = subnetId ?? node.SubnetId,
            Description = $"fathomctl lab attach {nodeName}",
            SecondaryPrivateIpAddressCount = secondaryIps > 0 ? secondaryIps : null,
        }, cancellationToken);
        var eni = created.NetworkInterface;
        try
        {
            await ec2.AttachNetworkInterfaceAsync(new AttachNetworkInterfaceRequest
            {
                NetworkInterfaceId = eni.NetworkInterfaceId,
                InstanceId = node.InstanceId,
                DeviceIndex = deviceIndex,
            }, cancellationToken);
        }
        catch (AmazonEC2Exception)
        {
            await ec2.DeleteNetworkInterfaceAsync(new DeleteNetworkInterfaceRequest { NetworkInterfaceId = eni.NetworkInterfaceId }, CancellationToken.None);
            throw;
        }
        return (eni.NetworkInterfaceId, eni.MacAddress, eni.PrivateIpAddress, deviceIndex);
    }
}
