using System.Net;
using System.Security.Cryptography;
using Fathom.Lab.Ec2;

namespace Fathom.Lab.Imds;

/// <summary>One IMDS answer: HTTP status and text body.</summary>
internal readonly record struct ImdsResponse(int Status, string Body)
{
    public static ImdsResponse Ok(string body) => new(200, body);
    public static ImdsResponse NotFound => new(404, "Not Found");
    public static ImdsResponse Unauthorized => new(401, "Unauthorized");
}

/// <summary>
/// IMDSv2 as EC2 serves it at 169.254.169.254, answering for the calling instance, which is
/// identified by the source address of the request (the lab's stand-in for the hypervisor
/// knowing which VM a packet came from). Pure request → response logic; the HTTP wiring is in
/// <see cref="ImdsEndpoint"/>.
/// </summary>
/// <remarks>
/// Token semantics follow the EC2 user guide ("Use IMDSv2"): <c>PUT /latest/api/token</c> with
/// <c>X-aws-ec2-metadata-token-ttl-seconds</c> 1–21600 returns a token; every GET must carry it
/// in <c>X-aws-ec2-metadata-token</c>, else 401. A token is only valid for the instance that
/// asked for it. Like AWS, a just-attached ENI appears under <c>network/interfaces/macs/</c>
/// only after a delay (<see cref="EniVisibilityDelay"/>).
/// </remarks>
internal sealed class InstanceMetadataService
{
    public const string TokenHeader = "X-aws-ec2-metadata-token";
    public const string TtlHeader = "X-aws-ec2-metadata-token-ttl-seconds";
    private const int MaxTtlSeconds = 21600;

    private readonly Ec2Cloud _cloud;
    private readonly Func<string, DateTimeOffset?> _attachedAt;
    private readonly TimeProvider _time;
    private readonly Lock _gate = new();
    private readonly Dictionary<string, (string InstanceId, DateTimeOffset Expires)> _tokens = new(StringComparer.Ordinal);

    /// <param name="cloud">The EC2 state.</param>
    /// <param name="attachedAt">When an ENI was (re)plugged, by ENI id (the fabric knows).</param>
    /// <param name="time">Clock for token expiry and the ENI delay.</param>
    public InstanceMetadataService(Ec2Cloud cloud, Func<string, DateTimeOffset?> attachedAt, TimeProvider? time = null)
    {
        _cloud = cloud;
        _attachedAt = attachedAt;
        _time = time ?? TimeProvider.System;
    }

    /// <summary>How long a just-attached secondary ENI stays out of the listing.</summary>
    public TimeSpan EniVisibilityDelay { get; init; }

    public ImdsResponse Handle(string method, string path, IPAddress caller, string? token, string? ttlSeconds)
    {
        var instance = _cloud.FindInstanceByPrivateIp(caller);
        if (instance is null)
            return new ImdsResponse(403, $"{caller} is not an instance of this lab");
        if (path == "/latest/api/token")
            return method == "PUT" ? IssueToken(instance, ttlSeconds) : new ImdsResponse(405, "Method Not Allowed");
        if (method is not ("GET" or "HEAD"))
            return new ImdsResponse(405, "Method Not Allowed");
        if (!IsValid(token, instance.InstanceId))
            return ImdsResponse.Unauthorized;
        const string root = "/latest/meta-data";
        if (path == "/latest" || path == "/latest/") return ImdsResponse.Ok("dynamic\nmeta-data\n");
        if (!path.StartsWith(root, StringComparison.Ordinal)) return ImdsResponse.NotFound;
        var answer = MetaData(instance, path[root.Length..].Trim('/'));
        return answer is null ? ImdsResponse.NotFound : ImdsResponse.Ok(answer);
    }

    private ImdsResponse IssueToken(Instance instance, string? ttlSeconds)
    {
        if (!int.TryParse(ttlSeconds, out var ttl) || ttl is < 1 or > MaxTtlSeconds)
            return new ImdsResponse(400, "Bad Request");
        var token = Convert.ToBase64String(RandomNumberGenerator.GetBytes(42)).Replace('+', '-').Replace('/', '_');
        var now = _time.GetUtcNow();
        lock (_gate)
        {
            foreach (var expired in _tokens.Where(t => t.Value.Expires <= now).Select(t => t.Key).ToList())
                _tokens.Remove(expired);
            _tokens[token] = (instance.InstanceId, now.AddSeconds(ttl));
        }
        return ImdsResponse.Ok(token);
    }

    private bool IsValid(string? token, string instanceId)
    {
        if (string.IsNullOrEmpty(token)) return false;
        lock (_gate)
            return _tokens.TryGetValue(token, out var t) && t.InstanceId == instanceId && t.Expires > _time.GetUtcNow();
    }

    /// <summary>The text at a meta-data path (no leading/trailing '/'), or null for 404.</summary>
    private string? MetaData(Instance instance, string path)
    {
        switch (path)
        {
            case "": return Listing("ami-id", "hostname", "instance-id", "instance-type", "local-hostname", "local-ipv4", "mac", "network/", "placement/");
            case "ami-id": return _cloud.ImageId;
            case "instance-id": return instance.InstanceId;
            case "instance-type": return instance.InstanceType;
            case "local-ipv4": return instance.PrivateIp.ToString();
            case "hostname" or "local-hostname": return Ec2Xml.PrivateDnsName(instance.PrivateIp, _cloud.Region);
            case "mac": return instance.MacAddress;
            case "placement": return Listing("availability-zone", "region");
            case "placement/availability-zone": return instance.AvailabilityZone;
            case "placement/region": return _cloud.Region;
            case "network": return Listing("interfaces/");
            case "network/interfaces": return Listing("macs/");
            case "network/interfaces/macs": return Listing([.. VisibleEnis(instance).Select(e => e.MacAddress + "/")]);
        }
        const string macs = "network/interfaces/macs/";
        if (!path.StartsWith(macs, StringComparison.Ordinal)) return null;
        var rest = path[macs.Length..];
        var slash = rest.IndexOf('/');
        var mac = slash < 0 ? rest : rest[..slash];
        var key = slash < 0 ? "" : rest[(slash + 1)..];
        var eni = VisibleEnis(instance).FirstOrDefault(e => string.Equals(e.MacAddress, mac, StringComparison.OrdinalIgnoreCase));
        return eni is null ? null : EniKey(eni, key);
    }

    private string? EniKey(NetworkInterface eni, string key)
    {
        return key switch
        {
            "" => Listing("device-number", "interface-id", "local-hostname", "local-ipv4s", "mac", "owner-id",
                "security-group-ids", "subnet-id", "subnet-ipv4-cidr-block", "vpc-id", "vpc-ipv4-cidr-block", "vpc-ipv4-cidr-blocks"),
            "device-number" => eni.Attachment?.DeviceIndex.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "interface-id" => eni.NetworkInterfaceId,
            "local-hostname" => Ec2Xml.PrivateDnsName(eni.PrivateIp, _cloud.Region),
            "local-ipv4s" => string.Join('\n', eni.AllPrivateIps),
            "mac" => eni.MacAddress,
            "owner-id" => _cloud.AccountId,
            "security-group-ids" => string.Join('\n', eni.SecurityGroupIds),
            "subnet-id" => eni.SubnetId,
            "subnet-ipv4-cidr-block" => _cloud.TryGetSubnet(eni.SubnetId, out var subnet) ? subnet.Cidr.ToString() : null,
            "vpc-id" => eni.VpcId,
            "vpc-ipv4-cidr-block" or "vpc-ipv4-cidr-blocks" => _cloud.VpcCidr.ToString(),
            _ => null,
        };
    }

    /// <summary>The instance's ENIs (in device order, as the cloud lists them), minus those attached less than the delay ago (the primary is always there).</summary>
    private IEnumerable<NetworkInterface> VisibleEnis(Instance instance)
    {
        var now = _time.GetUtcNow();
        return _cloud.GetInstanceEnis(instance.InstanceId)
            .Where(e => e.Attachment is { Status: AttachmentState.Attached } a &&
                (a.DeviceIndex == 0 || _attachedAt(e.NetworkInterfaceId) is not { } at || now - at >= EniVisibilityDelay));
    }

    private static string Listing(params string[] entries) => string.Join('\n', entries);
}
