using System.Net;
using System.Xml;
using static Fathom.Lab.Ec2.Ec2ErrorCodes;

namespace Fathom.Lab.Ec2;

/// <summary>
/// The EC2 Query API over an <see cref="Ec2Cloud"/>: authenticate (SigV4) → parse → inject
/// faults → dispatch to the action → XML. Pure request in, response out; hosting lives in
/// <see cref="Ec2Endpoint"/>, so this is unit-testable without a socket.
/// </summary>
public sealed partial class Ec2Api
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
    private readonly Ec2Credentials? _observer;
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
    /// <param name="observer">
    /// A second key pair whose requests <paramref name="faults"/> spare (the attach latency aside, which
    /// is the cloud's pace, not a fault): tests and audits read and change the cloud with it while the
    /// agents, signing with <paramref name="credentials"/>, meet the faults. Null: none.
    /// </param>
    public Ec2Api(Ec2Cloud cloud, Ec2Credentials credentials, FaultPlan faults, TimeProvider? wallClock = null, Ec2Credentials? observer = null)
    {
        _cloud = cloud;
        _credentials = credentials;
        _observer = observer;
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
            var observed = _observer is not null && SigV4.AccessKeyIdOf(request) == _observer.AccessKeyId;
            SigV4.Verify(request, observed ? _observer! : _credentials, _wallClock.GetUtcNow());
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
            if (!observed && _faults.Draw(action) is { } fault) throw fault;
            if (q.GetBool("DryRun") == true)
                throw new Ec2Exception("DryRunOperation", "Request would have succeeded, but DryRun flag is set.", HttpStatusCode.PreconditionFailed);
            var body = await handler(this, q, cancellationToken).ConfigureAwait(false);
            // Done, and the answer lost on its way (FaultPlan's lost answers): the change stays made.
            if (!observed && _faults.DrawLost(action) is { } lost) throw lost;
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
            ClientToken = q.Get("ClientToken") is { Length: > 0 } token ? token : null,
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
        var assigned = await _cloud.AssignPrivateIpAddressesAsync(eniId, addresses, count, cancellationToken,
            allowReassignment: q.GetBool("AllowReassignment") ?? false).ConfigureAwait(false);
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
