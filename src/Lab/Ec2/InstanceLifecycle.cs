using static Fathom.Lab.Ec2.Ec2ErrorCodes;

namespace Fathom.Lab.Ec2;

/// <summary>
/// Instances: launched with a primary ENI at device index 0 (DeleteOnTermination), terminated
/// with every ENI they carry. Lab-side actions (the agent never launches instances).
/// </summary>
internal sealed class InstanceLifecycle(Ec2Vpc vpc)
{
    /// <summary>
    /// Launches an instance: its primary ENI gets an address in the subnet and is attached
    /// through the fabric. The instance is tagged Name=<paramref name="nodeName"/>.
    /// </summary>
    public Task<Instance> LaunchAsync(string instanceType, string subnetId, string nodeName, CancellationToken cancellationToken) =>
        vpc.MutateAsync(async () =>
        {
            if (!vpc.TryGetInstanceType(instanceType, out _))
                throw new Ec2Exception(InvalidParameterValue, $"Invalid value '{instanceType}' for InstanceType.");
            var subnet = vpc.RequireSubnet(subnetId);
            var now = vpc.Time.GetUtcNow();
            var instance = new InstanceRecord
            {
                Id = vpc.Ids.NewId("i-"),
                InstanceType = instanceType,
                NodeName = nodeName,
                SubnetId = subnet.Id,
                LaunchTime = now,
                Tags = new(StringComparer.Ordinal) { ["Name"] = nodeName },
            };
            var eni = EniLifecycle.NewRecord(vpc, subnet, "Primary network interface", [vpc.State.DefaultSecurityGroupId]);
            eni.PrivateIp = vpc.Addressing.Allocate(subnet, 1, [])[0];
            eni.Attachment = new AttachmentRecord
            {
                Id = vpc.Ids.NewId("eni-attach-"),
                InstanceId = instance.Id,
                DeviceIndex = 0,
                Status = AttachmentState.Attached,
                DeleteOnTermination = true,
                AttachTime = now,
            };
            instance.PrimaryEniId = eni.Id;
            await Ec2Vpc.Realize(() => vpc.Fabric.EniChangedAsync(eni.Id, Ec2Vpc.ToSnapshot(eni), cancellationToken));
            try
            {
                await Ec2Vpc.Realize(() => vpc.Fabric.AttachAsync(Ec2Vpc.ToAttachment(eni), cancellationToken));
            }
            catch (Ec2Exception)
            {
                await vpc.UndoEniChanged(eni.Id);
                throw;
            }
            lock (vpc.Gate)
            {
                vpc.AddEni(eni);
                vpc.State.Instances[instance.Id] = instance;
            }
            return vpc.ToInstance(instance);
        }, cancellationToken);

    /// <summary>
    /// Terminates an instance: every attached ENI is detached through the fabric, those with
    /// DeleteOnTermination are deleted (the primary always is), the others become available.
    /// </summary>
    public Task TerminateAsync(string instanceId, CancellationToken cancellationToken) =>
        vpc.MutateAsync(async () =>
        {
            var instance = vpc.RequireInstance(instanceId);
            List<EniRecord> enis;
            lock (vpc.Gate) enis = [.. vpc.EnisOf(instance.Id).Reverse()];
            // Termination cannot be refused half-way (EC2 always completes it), so a fabric error
            // on one ENI does not stop the others; the first one is reported after the state is consistent.
            Ec2Exception? firstFailure = null;
            foreach (var eni in enis)
            {
                var failure = await ReleaseAsync(eni, cancellationToken);
                firstFailure ??= failure;
            }
            lock (vpc.Gate) vpc.State.Instances.Remove(instance.Id);
            vpc.Persist();
            if (firstFailure is not null) throw firstFailure;
            return true;
        }, cancellationToken);

    /// <summary>Detaches one ENI of a terminating instance and deletes it when it goes with the instance; returns the fabric's failure, if any.</summary>
    private async Task<Ec2Exception?> ReleaseAsync(EniRecord eni, CancellationToken cancellationToken)
    {
        var attachment = eni.Attachment!;
        Ec2Exception? failure = null;
        try
        {
            if (attachment.Status == AttachmentState.Attached)
                await Ec2Vpc.Realize(() => vpc.Fabric.DetachAsync(Ec2Vpc.ToAttachment(eni), cancellationToken));
            if (attachment.DeleteOnTermination)
                await Ec2Vpc.Realize(() => vpc.Fabric.EniChangedAsync(eni.Id, null, cancellationToken));
        }
        catch (Ec2Exception e)
        {
            failure = e;
        }
        lock (vpc.Gate)
        {
            if (attachment.DeleteOnTermination) vpc.RemoveEni(eni);
            else eni.Attachment = null;
        }
        return failure;
    }
}
