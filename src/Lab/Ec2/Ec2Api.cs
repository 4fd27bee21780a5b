using System.Net;
using System.Text;
using System.Xml;
using static Fathom.Lab.Ec2.Ec2ErrorCodes;

namespace Fathom.Lab.Ec2;

/// <summary>
/// The EC2 Query API over an <see cref="Ec2Cloud"/>: authenticate (SigV4) → parse → inject
/// faults → dispatch to the action → XML. Pure request in, response out; hosting lives in
/// <see cref="Ec2Endpoint"/>, so this is unit-testable without a socket.
/// </summary>
public sealed class Ec2Api
{
    private delegate Task<Action<XmlWriter>> Handler(Ec2Api api, QueryParameters q, CancellationToken cancellationToken);

    // The action table: every action the lab serves, and nothing else (InvalidAction). Static,
    // so the names are known without an instance (ActionNames).
    private static readonly Dictionary<string, Handler> Handlers = new(StringComparer.Ordinal)
    {
        ["DescribeInstances"] = (api, q, ct) => api.DescribeInstances(q, ct),
        ["DescribeInstanceTypes"] = (api, q, ct) => api.DescribeInstanceTypes(q, ct),
        ["DescribeSubnets"] = (api, q, ct) => api.DescribeSubnets(q, ct),
        ["DescribeSecurityGroups"] = (api, q, ct) => api.DescribeSecurityGroups(q, ct),
        ["DescribeNetworkInterfaces"] = (api, q, ct) => api.DescribeNetworkInterfaces(q, ct),
        ["CreateNetworkInterface"] = (api, q, ct) => api.CreateNetworkInterface(q, ct),
        ["DeleteNetworkInterface"] = (api, q, ct) => api.DeleteNetworkInterface(q, ct),
        ["AttachNetworkInterface"] = (api, q, ct) => api.AttachNetworkInterface(q, ct),
        ["DetachNetworkInterface"] = (api, q, ct) => api.DetachNetworkInterface(q, ct),
        ["AssignPrivateIpAddresses"] = (api, q, ct) => api.AssignPrivateIpAddresses(q, ct),
        ["UnassignPrivateIpAddresses"] = (api, q, ct) => api.UnassignPrivateIpAddresses(q, ct),
        ["ModifyNetworkInterfaceAttribute"] = (api, q, ct) => api.ModifyNetworkInterfaceAttribute(q, ct),
        ["CreateTags"] = (api, q, ct) => api.CreateTags(q, ct),
        ["DeleteTags"] = (api, q, ct) => api.DeleteTags(q, ct),
    };

    private readonly Ec2Cloud _cloud;
    private readonly Ec2Credentials _credentials;
    private readonly FaultPlan _faults;
    private readonly TimeProvider _wallClock;

    /// <summary>Serves <paramref name="cloud"/> to clients holding <paramref name="credentials"/>, with <paramref name="faults"/> injected.</summary>
    /// <param name="cloud">The state served.</param>
    /// <param name="credentials">The key pair requests must be signed with.</param>
    /// <param name="faults">Faults to inject.</param>
    /// <param name="wallClock">
    /// The clock X-Amz-Date is checked against (default: system). Not the cloud's clock: clients
    /// sign with the real time even when a test drives the cloud with a fake one.
    /// </param>
    public Ec2Api(Ec2Cloud cloud, Ec2Credentials credentials, FaultPlan faults, TimeProvider? wallClock = null)
    {
        _cloud = cloud;
        _credentials = credentials;
        _faults = faults;
        _wallClock = wallClock ?? TimeProvider.System;
    }

    /// <summary>The names of the actions served (fault specs are checked against them before a lab starts).</summary>
    public static IReadOnlySet<string> ActionNames { get; } = Handlers.Keys.ToHashSet(StringComparer.Ordinal);

    /// <summary>Answers one request. Never throws for a bad request: every failure is an EC2 error document.</summary>
    public async Task<Ec2HttpResponse> HandleAsync(Ec2HttpRequest request, CancellationToken cancellationToken = default)
    {
        var requestId = Guid.NewGuid().ToString();
        try
        {
            SigV4.Verify(request, _credentials, _wallClock.GetUtcNow());
            var q = QueryParameters.FromRequest(request);
            var action = q.Get("Action");
            if (q.IsRejected("Action"))
                throw new Ec2Exception(InvalidAction, $"The action {q.RejectedValue("Action")} is not valid for this web service.");
            if (string.IsNullOrEmpty(action))
                throw new Ec2Exception(MissingParameter, "The request must contain the parameter Action");
            if (!Handlers.TryGetValue(action, out var handler))
                throw new Ec2Exception(InvalidAction, $"The action {action} is not valid for this web service.");
            // Refused characters are refused here, before any action can store them (QueryParameters' remarks).
            q.ThrowIfRejected();
            if (string.IsNullOrEmpty(q.Get("Version")))
                throw new Ec2Exception(MissingParameter, "The request must contain the parameter Version");
            if (_faults.Draw(action) is { } fault) throw fault;
            if (q.GetBool("DryRun") == true)
                throw new Ec2Exception("DryRunOperation", "Request would have succeeded, but DryRun flag is set.", HttpStatusCode.PreconditionFailed);
            var body = await handler(this, q, cancellationToken).ConfigureAwait(false);
            return new Ec2HttpResponse(200, Ec2Xml.Response(action, requestId, body));
        }
        catch (Ec2Exception e)
        {
            return new Ec2HttpResponse((int)e.StatusCode, Ec2Xml.Error(e.Code, e.Message, requestId));
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // A bug in the emulator: answer as EC2 answers its own failures, and keep serving.
            return new Ec2HttpResponse(500, Ec2Xml.Error(InternalError, "An internal error has occurred: " + e.Message, requestId));
        }
    }

    private static Action<XmlWriter> Return(bool value = true) => w => w.Element("return", value);

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

    // ---------------------------------------------------------------- ENI actions

    private async Task<Action<XmlWriter>> CreateNetworkInterface(QueryParameters q, CancellationToken cancellationToken)
    {
        var subnetId = q.Require("SubnetId");
        IPAddress? primary = q.Get("PrivateIpAddress") is { Length: > 0 } p ? QueryParameters.ParseIPv4("PrivateIpAddress", p) : null;
        var secondaries = new List<IPAddress>();
        foreach (var i in q.Indexes("PrivateIpAddresses"))
        {
            var text = q.Get($"PrivateIpAddresses.{i}.PrivateIpAddress")
                ?? throw new Ec2Exception(MissingParameter, $"The request must contain the parameter PrivateIpAddresses.{i}.PrivateIpAddress");
            var ip = QueryParameters.ParseIPv4("PrivateIpAddresses.PrivateIpAddress", text);
            if (q.GetBool($"PrivateIpAddresses.{i}.Primary") == true)
            {
                if (primary is not null && !primary.Equals(ip))
                    throw new Ec2Exception(InvalidParameterCombination, "Only one primary private IP address may be specified.");
                primary = ip;
            }
            else
            {
                secondaries.Add(ip);
            }
        }
        var tags = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var i in q.Indexes("TagSpecification"))
        {
            var type = q.Get($"TagSpecification.{i}.ResourceType");
            if (type != "network-interface")
                throw new Ec2Exception(InvalidParameterValue, $"'{type}' is not a valid taggable resource type for this operation.");
            foreach (var (key, value) in q.Tags($"TagSpecification.{i}.Tag")) tags[key] = value ?? "";
        }
        var eni = await _cloud.CreateNetworkInterfaceAsync(new CreateNetworkInterfaceSpec
        {
            SubnetId = subnetId,
            SecurityGroupIds = q.List("SecurityGroupId"),
            Description = q.Get("Description") ?? "",
            PrivateIp = primary,
            SecondaryPrivateIps = secondaries,
            SecondaryPrivateIpCount = q.GetInt("SecondaryPrivateIpAddressCount") ?? 0,
            Tags = tags,
        }, cancellationToken).ConfigureAwait(false);
        var groupNames = GroupNames();
        return w =>
        {
            w.Start("networkInterface");
            w.NetworkInterface(eni, _cloud, groupNames);
            w.End();
        };
    }

    private async Task<Action<XmlWriter>> DeleteNetworkInterface(QueryParameters q, CancellationToken cancellationToken)
    {
        await _cloud.DeleteNetworkInterfaceAsync(q.Require("NetworkInterfaceId"), cancellationToken).ConfigureAwait(false);
        return Return();
    }

    private async Task<Action<XmlWriter>> AttachNetworkInterface(QueryParameters q, CancellationToken cancellationToken)
    {
        var eniId = q.Require("NetworkInterfaceId");
        var instanceId = q.Require("InstanceId");
        var deviceIndex = q.GetInt("DeviceIndex") ?? throw new Ec2Exception(MissingParameter, "The request must contain the parameter DeviceIndex");
        var attachmentId = await _cloud.AttachNetworkInterfaceAsync(eniId, instanceId, deviceIndex, _faults.AttachLatency, cancellationToken)
            .ConfigureAwait(false);
        return w =>
        {
            w.Element("attachmentId", attachmentId);
            w.Element("networkCardIndex", 0);
        };
    }

    private async Task<Action<XmlWriter>> DetachNetworkInterface(QueryParameters q, CancellationToken cancellationToken)
    {
        await _cloud.DetachNetworkInterfaceAsync(q.Require("AttachmentId"), q.GetBool("Force") ?? false, cancellationToken).ConfigureAwait(false);
        return Return();
    }

    private async Task<Action<XmlWriter>> AssignPrivateIpAddresses(QueryParameters q, CancellationToken cancellationToken)
    {
        var eniId = q.Require("NetworkInterfaceId");
        var addresses = q.List("PrivateIpAddress").Select(a => QueryParameters.ParseIPv4("PrivateIpAddress", a)).ToList();
        var count = q.GetInt("SecondaryPrivateIpAddressCount") ?? 0;
        if (count < 0) throw new Ec2Exception(InvalidParameterValue, $"Invalid value '{count}' for SecondaryPrivateIpAddressCount.");
        var assigned = await _cloud.AssignPrivateIpAddressesAsync(eniId, addresses, count, cancellationToken).ConfigureAwait(false);
        return w =>
        {
            w.Element("networkInterfaceId", eniId);
            w.Set("assignedPrivateIpAddressesSet", assigned, (w, ip) => w.Element("privateIpAddress", ip.ToString()));
            w.Element("return", true);
        };
    }

    private async Task<Action<XmlWriter>> UnassignPrivateIpAddresses(QueryParameters q, CancellationToken cancellationToken)
    {
        var eniId = q.Require("NetworkInterfaceId");
        var addresses = q.List("PrivateIpAddress").Select(a => QueryParameters.ParseIPv4("PrivateIpAddress", a)).ToList();
        await _cloud.UnassignPrivateIpAddressesAsync(eniId, addresses, cancellationToken).ConfigureAwait(false);
        return Return();
    }

    private async Task<Action<XmlWriter>> ModifyNetworkInterfaceAttribute(QueryParameters q, CancellationToken cancellationToken)
    {
        var eniId = q.Require("NetworkInterfaceId");
        var groups = q.Indexes("SecurityGroupId").Count > 0 ? q.List("SecurityGroupId") : null;
        await _cloud.ModifyNetworkInterfaceAttributeAsync(eniId, q.Get("Attachment.AttachmentId"), q.GetBool("Attachment.DeleteOnTermination"),
            groups, q.Get("Description.Value"), cancellationToken).ConfigureAwait(false);
        return Return();
    }

    private async Task<Action<XmlWriter>> CreateTags(QueryParameters q, CancellationToken cancellationToken)
    {
        var tags = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (key, value) in q.Tags()) tags[key] = value ?? "";
        await _cloud.CreateTagsAsync(q.List("ResourceId"), tags, cancellationToken).ConfigureAwait(false);
        return Return();
    }

    private async Task<Action<XmlWriter>> DeleteTags(QueryParameters q, CancellationToken cancellationToken)
    {
        await _cloud.DeleteTagsAsync(q.List("ResourceId"), q.Tags(), cancellationToken).ConfigureAwait(false);
        return Return();
    }
}

/// <summary>EC2 filter semantics: filters AND together, values of one filter OR; values may use * and ? wildcards.</summary>
internal static class Filtering
{
    /// <summary>
    /// Whether a resource passes every filter. <paramref name="values"/> gives a resource's values
    /// for a filter name (null: no such filter → InvalidParameterValue); tag:KEY, tag-key and
    /// tag-value are handled here for resources with <paramref name="tags"/>.
    /// </summary>
    public static bool Matches(IReadOnlyList<Ec2Filter> filters, Func<string, IEnumerable<string>?> values,
        IReadOnlyDictionary<string, string>? tags)
    {
        foreach (var filter in filters)
        {
            IEnumerable<string>? actual = filter.Name switch
            {
                _ when tags is not null && filter.Name.StartsWith("tag:", StringComparison.Ordinal) =>
                    tags.TryGetValue(filter.Name[4..], out var v) ? [v] : [],
                "tag-key" when tags is not null => tags.Keys,
                "tag-value" when tags is not null => tags.Values,
                _ => values(filter.Name),
            };
            if (actual is null)
                throw new Ec2Exception(InvalidParameterValue, $"The filter '{filter.Name}' is invalid");
            if (!actual.Any(a => filter.Values.Any(pattern => Glob(pattern, a)))) return false;
        }
        return true;
    }

    /// <summary>EC2 filter wildcards: * any run of characters, ? exactly one; everything else literal.</summary>
    public static bool Glob(string pattern, string text)
    {
        int p = 0, t = 0, star = -1, mark = 0;
        while (t < text.Length)
        {
            if (p < pattern.Length && (pattern[p] == '?' || pattern[p] == text[t])) { p++; t++; }
            else if (p < pattern.Length && pattern[p] == '*') { star = p++; mark = t; }
            else if (star >= 0) { p = star + 1; t = ++mark; }
            else return false;
        }
        while (p < pattern.Length && pattern[p] == '*') p++;
        return p == pattern.Length;
    }
}
