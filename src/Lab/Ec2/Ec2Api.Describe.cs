using System.Text;
using System.Xml;
using static Fathom.Lab.Ec2.Ec2ErrorCodes;

namespace Fathom.Lab.Ec2;

// The Describe* actions of the Query API: selection by ids and filters, paging, and their XML.
public sealed partial class Ec2Api
{
    // ---------------------------------------------------------------- Describe*

    private Task<Action<XmlWriter>> DescribeInstances(QueryParameters q, CancellationToken _)
    {
        var ids = q.List("InstanceId");
        var filters = q.Filters();
        var maxResults = q.GetInt("MaxResults");
        if (ids.Count > 0 && maxResults is not null)
            throw new Ec2Exception(InvalidParameterCombination, "The parameter instancesSet cannot be used with the parameter maxResults");
        var all = _cloud.Instances;
        foreach (var id in ids)
            if (!all.Any(i => i.InstanceId == id))
                throw new Ec2Exception(InvalidInstanceIdNotFound, $"The instance ID '{id}' does not exist");
        var groupNames = GroupNames();
        var enis = _cloud.NetworkInterfaces;
        var selected = all.Where(i => ids.Count == 0 || ids.Contains(i.InstanceId))
            .Where(i => Filtering.Matches(filters, name => InstanceFilter(i, enis, name), i.Tags))
            .ToList();
        var (page, next) = Paginate(selected, i => i.InstanceId, maxResults, q.Get("NextToken"));
        var data = page.Select(i => (instance: i, enis: _cloud.GetInstanceEnis(i.InstanceId),
            reservation: "r-" + i.InstanceId[2..])).ToList();
        return Task.FromResult<Action<XmlWriter>>(w =>
        {
            // One reservation per instance: the lab launches instances one at a time.
            w.Set("reservationSet", data, (w, d) =>
            {
                w.Element("reservationId", d.reservation);
                w.Element("ownerId", _cloud.AccountId);
                w.Set("groupSet", Array.Empty<string>(), (_, _) => { });
                w.Set("instancesSet", [d], (w, x) => w.Instance(x.instance, x.enis, _cloud, groupNames));
            });
            w.Element("nextToken", next);
        });
    }

    private IEnumerable<string>? InstanceFilter(Instance i, IReadOnlyList<NetworkInterface> enis, string name)
    {
        var mine = enis.Where(e => e.Attachment?.InstanceId == i.InstanceId);
        return name switch
        {
            "instance-id" => [i.InstanceId],
            "instance-type" => [i.InstanceType],
            "instance-state-name" => [i.State],
            "instance-state-code" => ["16"],
            "private-ip-address" => [i.PrivateIp.ToString()],
            "subnet-id" => [i.SubnetId],
            "availability-zone" => [i.AvailabilityZone],
            "vpc-id" => [_cloud.VpcId],
            "network-interface.network-interface-id" => mine.Select(e => e.NetworkInterfaceId),
            "network-interface.mac-address" => mine.Select(e => e.MacAddress),
            "network-interface.addresses.private-ip-address" => mine.SelectMany(e => e.AllPrivateIps).Select(a => a.ToString()),
            _ => null,
        };
    }

    private Task<Action<XmlWriter>> DescribeInstanceTypes(QueryParameters q, CancellationToken _)
    {
        var names = q.List("InstanceType");
        var unknown = names.Where(n => !_cloud.TryGetInstanceType(n, out var _)).ToList();
        if (unknown.Count > 0)
            throw new Ec2Exception(InvalidInstanceType, $"The following supplied instance types do not exist: [{string.Join(", ", unknown)}]");
        var filters = q.Filters();
        var selected = _cloud.InstanceTypes.Where(t => names.Count == 0 || names.Contains(t.Name))
            .Where(t => Filtering.Matches(filters, name => name switch
            {
                "instance-type" => [t.Name],
                "network-info.maximum-network-interfaces" => [t.MaximumNetworkInterfaces.ToString(System.Globalization.CultureInfo.InvariantCulture)],
                "network-info.ipv4-addresses-per-interface" => [t.Ipv4AddressesPerInterface.ToString(System.Globalization.CultureInfo.InvariantCulture)],
                _ => null,
            }, null))
            .ToList();
        return Task.FromResult(Page(selected, t => t.Name, q, "instanceTypeSet", (w, t) => w.InstanceType(t), minResults: 5, maxResultsLimit: 100));
    }

    private Task<Action<XmlWriter>> DescribeSubnets(QueryParameters q, CancellationToken _)
    {
        var ids = q.List("SubnetId");
        var all = _cloud.Subnets;
        foreach (var id in ids)
            if (!all.Any(s => s.SubnetId == id))
                throw new Ec2Exception(InvalidSubnetIdNotFound, $"The subnet ID '{id}' does not exist");
        var filters = q.Filters();
        var selected = all.Where(s => ids.Count == 0 || ids.Contains(s.SubnetId))
            .Where(s => Filtering.Matches(filters, name => name switch
            {
                "subnet-id" => [s.SubnetId],
                "vpc-id" => [s.VpcId],
                "availability-zone" => [s.AvailabilityZone],
                "cidr-block" or "cidr" or "cidrBlock" => [s.Cidr.ToString()],
                "state" => ["available"],
                "available-ip-address-count" => [s.AvailableIpAddressCount.ToString(System.Globalization.CultureInfo.InvariantCulture)],
                _ => null,
            }, s.Tags))
            .ToList();
        return Task.FromResult(Page(selected, s => s.SubnetId, q, "subnetSet", (w, s) => w.Subnet(s, _cloud)));
    }

    private Task<Action<XmlWriter>> DescribeSecurityGroups(QueryParameters q, CancellationToken _)
    {
        var ids = q.List("GroupId");
        var names = q.List("GroupName");
        var all = _cloud.SecurityGroups;
        foreach (var id in ids)
            if (!all.Any(g => g.GroupId == id))
                throw new Ec2Exception(InvalidGroupNotFound, $"The security group '{id}' does not exist");
        foreach (var name in names)
            if (!all.Any(g => g.GroupName == name))
                throw new Ec2Exception(InvalidGroupNotFound, $"The security group '{name}' does not exist in default VPC '{_cloud.VpcId}'");
        var filters = q.Filters();
        var selected = all.Where(g => (ids.Count == 0 || ids.Contains(g.GroupId)) && (names.Count == 0 || names.Contains(g.GroupName)))
            .Where(g => Filtering.Matches(filters, name => name switch
            {
                "group-id" => [g.GroupId],
                "group-name" => [g.GroupName],
                "description" => [g.Description],
                "vpc-id" => [g.VpcId],
                "owner-id" => [_cloud.AccountId],
                _ => null,
            }, g.Tags))
            .ToList();
        return Task.FromResult(Page(selected, g => g.GroupId, q, "securityGroupInfo", (w, g) => w.SecurityGroup(g, _cloud)));
    }

    private Task<Action<XmlWriter>> DescribeNetworkInterfaces(QueryParameters q, CancellationToken _)
    {
        var ids = q.List("NetworkInterfaceId");
        var all = _cloud.NetworkInterfaces;
        foreach (var id in ids)
        {
            if (!Ec2Ids.IsWellFormed(id, "eni-"))
                throw new Ec2Exception(InvalidNetworkInterfaceIdMalformed, $"Invalid id: \"{id}\" (expecting \"eni-...\")");
            if (!all.Any(e => e.NetworkInterfaceId == id))
                throw new Ec2Exception(InvalidNetworkInterfaceIdNotFound, $"The networkInterface ID '{id}' does not exist");
        }
        var filters = q.Filters();
        var selected = all.Where(e => ids.Count == 0 || ids.Contains(e.NetworkInterfaceId))
            .Where(e => Filtering.Matches(filters, name => EniFilter(e, name), e.Tags))
            .ToList();
        var groupNames = GroupNames();
        return Task.FromResult(Page(selected, e => e.NetworkInterfaceId, q, "networkInterfaceSet", (w, e) => w.NetworkInterface(e, _cloud, groupNames)));
    }

    private IEnumerable<string>? EniFilter(NetworkInterface e, string name) => name switch
    {
        "network-interface-id" => [e.NetworkInterfaceId],
        "subnet-id" => [e.SubnetId],
        "vpc-id" => [e.VpcId],
        "availability-zone" => [e.AvailabilityZone],
        "status" => [e.Status],
        "mac-address" => [e.MacAddress],
        "description" => [e.Description],
        "private-ip-address" or "addresses.private-ip-address" => e.AllPrivateIps.Select(a => a.ToString()),
        "group-id" => e.SecurityGroupIds,
        "owner-id" => [_cloud.AccountId],
        "requester-managed" => ["false"],
        "source-dest-check" => ["true"],
        "interface-type" => ["interface"],
        "attachment.instance-id" => e.Attachment is { } a ? [a.InstanceId] : [],
        "attachment.attachment-id" => e.Attachment is { } a ? [a.AttachmentId] : [],
        "attachment.device-index" => e.Attachment is { } a ? [a.DeviceIndex.ToString(System.Globalization.CultureInfo.InvariantCulture)] : [],
        "attachment.status" => e.Attachment is { } a ? [a.Status.ToWire()] : [],
        "attachment.delete-on-termination" => e.Attachment is { } a ? [a.DeleteOnTermination ? "true" : "false"] : [],
        "attachment.instance-owner-id" => e.Attachment is not null ? [_cloud.AccountId] : [],
        _ => null,
    };

    /// <summary>A Describe* body: the page of <paramref name="selected"/> that the request asks for as set <paramref name="setName"/>, then nextToken.</summary>
    private static Action<XmlWriter> Page<T>(IReadOnlyList<T> selected, Func<T, string> key, QueryParameters q, string setName,
        Action<XmlWriter, T> item, int minResults = 5, int maxResultsLimit = 1000)
    {
        var (page, next) = Paginate(selected, key, q.GetInt("MaxResults"), q.Get("NextToken"), minResults, maxResultsLimit);
        return w =>
        {
            w.Set(setName, page, item);
            w.Element("nextToken", next);
        };
    }

    /// <summary>
    /// EC2 pagination: MaxResults within [min, max] (5–1000 for most Describe calls), NextToken
    /// an opaque cursor — here the id of the last item returned, hex-encoded — over a list
    /// sorted by id, so items created between pages are neither skipped before nor repeated.
    /// </summary>
    private static (IReadOnlyList<T> Page, string? NextToken) Paginate<T>(IReadOnlyList<T> items, Func<T, string> key,
        int? maxResults, string? nextToken, int minResults = 5, int maxResultsLimit = 1000)
    {
        var ordered = items.OrderBy(key, StringComparer.Ordinal).AsEnumerable();
        if (!string.IsNullOrEmpty(nextToken))
        {
            string after;
            try { after = Encoding.UTF8.GetString(Convert.FromHexString(nextToken)); }
            catch (FormatException) { throw new Ec2Exception(InvalidPaginationToken, $"Invalid token: {nextToken}"); }
            if (!after.StartsWith("fathom:", StringComparison.Ordinal))
                throw new Ec2Exception(InvalidPaginationToken, $"Invalid token: {nextToken}");
            after = after["fathom:".Length..];
            ordered = ordered.Where(x => string.CompareOrdinal(key(x), after) > 0);
        }
        var rest = ordered.ToList();
        if (maxResults is not { } max) return (rest, null);
        if (max < minResults || max > maxResultsLimit)
            throw new Ec2Exception(InvalidParameterValue, $"Value ( {max} ) for parameter maxResults is invalid. Expecting a value between {minResults} and {maxResultsLimit}.");
        if (rest.Count <= max) return (rest, null);
        var page = rest.Take(max).ToList();
        return (page, Convert.ToHexStringLower(Encoding.UTF8.GetBytes("fathom:" + key(page[^1]))));
    }

    private Dictionary<string, string> GroupNames() => _cloud.SecurityGroups.ToDictionary(g => g.GroupId, g => g.GroupName);
}
