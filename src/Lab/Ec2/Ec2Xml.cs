using System.Globalization;
using System.Net;
using System.Text;
using System.Xml;

namespace Fathom.Lab.Ec2;

/// <summary>
/// EC2's XML, written by hand (no serializer, no reflection): element names are the
/// <c>locationName</c>s of the botocore EC2 model (data/ec2/2016-11-15/service-2.json), lists are
/// <c>&lt;xxxSet&gt;&lt;item&gt;…</c>, timestamps ISO 8601 UTC with milliseconds.
/// </summary>
internal static class Ec2Xml
{
    public const string Namespace = "http://ec2.amazonaws.com/doc/2016-11-15/";

    private static readonly XmlWriterSettings Settings = new()
    {
        Encoding = new UTF8Encoding(false),
        Indent = true,
        IndentChars = "    ",
    };

    /// <summary>
    /// <c>&lt;{Action}Response xmlns=…&gt;&lt;requestId&gt;…</c> then the body. The body writer runs
    /// after every check, so an exception in it is a bug, not an EC2 error.
    /// </summary>
    public static byte[] Response(string action, string requestId, Action<XmlWriter> body)
    {
        using var stream = new MemoryStream();
        using (var w = XmlWriter.Create(stream, Settings))
        {
            w.WriteStartDocument();
            w.WriteStartElement(action + "Response", Namespace);
            w.WriteElementString("requestId", Namespace, Text(requestId));
            body(w);
            w.WriteEndElement();
            w.WriteEndDocument();
        }
        return stream.ToArray();
    }

    /// <summary>EC2's error document: Response/Errors/Error/{Code,Message} and RequestID (capital ID, no namespace).</summary>
    public static byte[] Error(string code, string message, string requestId)
    {
        using var stream = new MemoryStream();
        using (var w = XmlWriter.Create(stream, Settings))
        {
            w.WriteStartDocument();
            w.WriteStartElement("Response");
            w.WriteStartElement("Errors");
            w.WriteStartElement("Error");
            w.WriteElementString("Code", Text(code));
            w.WriteElementString("Message", Text(message));
            w.WriteEndElement();
            w.WriteEndElement();
            w.WriteElementString("RequestID", Text(requestId));
            w.WriteEndElement();
            w.WriteEndDocument();
        }
        return stream.ToArray();
    }

    public static void Element(this XmlWriter w, string name, string? value)
    {
        if (value is not null) w.WriteElementString(name, Namespace, Text(value));
    }

    /// <summary>
    /// Text as XML 1.0 can carry it: a character it cannot (a control character, U+FFFE/U+FFFF, a
    /// lone surrogate) becomes U+FFFD, so no stored value can make the writer throw and an answer
    /// fail (issue 8). The API refuses such characters at its boundary; this is the second line.
    /// Text that needs nothing is returned as is, so answers stay byte-for-byte what they were.
    /// </summary>
    internal static string Text(string value)
    {
        var bad = FirstNonXmlChar(value);
        if (bad < 0) return value;
        var chars = value.ToCharArray();
        for (var i = bad; i < chars.Length; i++)
        {
            if (char.IsHighSurrogate(chars[i]) && i + 1 < chars.Length && char.IsLowSurrogate(chars[i + 1])) i++;
            else if (!XmlConvert.IsXmlChar(chars[i])) chars[i] = '\uFFFD';
        }
        return new string(chars);
    }

    private static int FirstNonXmlChar(string value)
    {
        for (var i = 0; i < value.Length; i++)
        {
            if (char.IsHighSurrogate(value[i]) && i + 1 < value.Length && char.IsLowSurrogate(value[i + 1])) i++;
            else if (!XmlConvert.IsXmlChar(value[i])) return i;
        }
        return -1;
    }

    public static void Element(this XmlWriter w, string name, bool value) => w.Element(name, value ? "true" : "false");

    public static void Element(this XmlWriter w, string name, long value) => w.Element(name, value.ToString(CultureInfo.InvariantCulture));

    public static void Element(this XmlWriter w, string name, DateTimeOffset value) =>
        w.Element(name, value.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture));

    public static void Start(this XmlWriter w, string name) => w.WriteStartElement(name, Namespace);

    public static void End(this XmlWriter w) => w.WriteEndElement();

    /// <summary>A list: <c>&lt;name&gt;</c> with one <c>&lt;item&gt;</c> per element (an empty set is written, as EC2 does).</summary>
    public static void Set<T>(this XmlWriter w, string name, IEnumerable<T> items, Action<XmlWriter, T> item)
    {
        w.Start(name);
        foreach (var x in items)
        {
            w.Start("item");
            item(w, x);
            w.End();
        }
        w.End();
    }

    public static void TagSet(this XmlWriter w, IReadOnlyDictionary<string, string> tags) =>
        w.Set("tagSet", tags, (w, t) =>
        {
            w.Element("key", t.Key);
            w.Element("value", t.Value);
        });

    public static void GroupSet(this XmlWriter w, IEnumerable<string> groupIds, IReadOnlyDictionary<string, string> groupNames) =>
        w.Set("groupSet", groupIds, (w, id) =>
        {
            w.Element("groupId", id);
            w.Element("groupName", groupNames.GetValueOrDefault(id, ""));
        });

    /// <summary>EC2's internal DNS name of a private IP: ip-10-0-1-5.ec2.internal in us-east-1, else ip-….REGION.compute.internal.</summary>
    public static string PrivateDnsName(IPAddress ip, string region) =>
        "ip-" + ip.ToString().Replace('.', '-') + (region == "us-east-1" ? ".ec2.internal" : $".{region}.compute.internal");

    /// <summary>The NetworkInterface shape (CreateNetworkInterface, DescribeNetworkInterfaces).</summary>
    public static void NetworkInterface(this XmlWriter w, NetworkInterface eni, Ec2Cloud cloud, IReadOnlyDictionary<string, string> groupNames)
    {
        w.EniHead(eni, cloud, groupNames);
        w.Element("availabilityZone", eni.AvailabilityZone);
        w.Element("requesterManaged", false);
        w.Attachment(eni, instanceOwnerId: cloud.AccountId);
        w.TagSet(eni.Tags);
        w.AddressesAndType(eni, cloud.Region);
    }

    // What both ENI shapes (NetworkInterface and InstanceNetworkInterface) start with. Element
    // order inside a structure does not matter to EC2's clients (botocore and the .NET SDK look
    // members up by name).
    private static void EniHead(this XmlWriter w, NetworkInterface eni, Ec2Cloud cloud, IReadOnlyDictionary<string, string> groupNames)
    {
        w.Element("networkInterfaceId", eni.NetworkInterfaceId);
        w.Element("subnetId", eni.SubnetId);
        w.Element("vpcId", eni.VpcId);
        w.Element("description", eni.Description);
        w.Element("ownerId", cloud.AccountId);
        w.Element("status", eni.Status);
        w.Element("macAddress", eni.MacAddress);
        w.Element("privateIpAddress", eni.PrivateIp.ToString());
        w.Element("privateDnsName", PrivateDnsName(eni.PrivateIp, cloud.Region));
        w.Element("sourceDestCheck", true);
        w.GroupSet(eni.SecurityGroupIds, groupNames);
    }

    // The attachment both ENI shapes carry. NetworkInterfaceAttachment (an owner given) also names
    // the instance and its owner; InstanceNetworkInterfaceAttachment, inside the instance, does not.
    private static void Attachment(this XmlWriter w, NetworkInterface eni, string? instanceOwnerId)
    {
        if (eni.Attachment is not { } a) return;
        w.Start("attachment");
        w.Element("attachmentId", a.AttachmentId);
        if (instanceOwnerId is not null)
        {
            w.Element("instanceId", a.InstanceId);
            w.Element("instanceOwnerId", instanceOwnerId);
        }
        w.Element("deviceIndex", a.DeviceIndex);
        w.Element("networkCardIndex", 0);
        w.Element("status", a.Status.ToWire());
        w.Element("attachTime", a.AttachTime);
        w.Element("deleteOnTermination", a.DeleteOnTermination);
        w.End();
    }

    // The tail both ENI shapes share (NetworkInterface and InstanceNetworkInterface): the
    // primary address first, as EC2 lists it, no IPv6, and the interface type.
    private static void AddressesAndType(this XmlWriter w, NetworkInterface eni, string region)
    {
        w.Set("privateIpAddressesSet", eni.AllPrivateIps.Select((ip, i) => (ip, primary: i == 0)), (w, p) =>
        {
            w.Element("privateIpAddress", p.ip.ToString());
            w.Element("privateDnsName", PrivateDnsName(p.ip, region));
            w.Element("primary", p.primary);
        });
        w.Set("ipv6AddressesSet", Array.Empty<string>(), (_, _) => { });
        w.Element("interfaceType", "interface");
    }

    /// <summary>The Instance shape inside DescribeInstances' reservationSet/item/instancesSet.</summary>
    public static void Instance(this XmlWriter w, Instance instance, IReadOnlyList<NetworkInterface> enis, Ec2Cloud cloud,
        IReadOnlyDictionary<string, string> groupNames)
    {
        w.Element("instanceId", instance.InstanceId);
        w.Element("imageId", cloud.ImageId);
        w.Start("instanceState");
        w.Element("code", 16); // 16 = running (the low byte of EC2's state code)
        w.Element("name", instance.State);
        w.End();
        w.Element("privateDnsName", PrivateDnsName(instance.PrivateIp, cloud.Region));
        w.Element("dnsName", "");
        w.Element("reason", "");
        w.Element("amiLaunchIndex", 0);
        w.Set("productCodes", Array.Empty<string>(), (_, _) => { });
        w.Element("instanceType", instance.InstanceType);
        w.Element("launchTime", instance.LaunchTime);
        w.Start("placement");
        w.Element("availabilityZone", instance.AvailabilityZone);
        w.Element("groupName", "");
        w.Element("tenancy", "default");
        w.End();
        w.Start("monitoring");
        w.Element("state", "disabled");
        w.End();
        w.Element("subnetId", instance.SubnetId);
        w.Element("vpcId", cloud.VpcId);
        w.Element("privateIpAddress", instance.PrivateIp.ToString());
        w.Element("sourceDestCheck", true);
        w.GroupSet(instance.SecurityGroupIds, groupNames);
        w.Element("architecture", "x86_64");
        w.Element("rootDeviceType", "ebs");
        w.Element("rootDeviceName", "/dev/xvda");
        w.Set("blockDeviceMapping", Array.Empty<string>(), (_, _) => { });
        w.Element("virtualizationType", "hvm");
        w.TagSet(instance.Tags);
        w.Element("hypervisor", "xen");
        w.Set("networkInterfaceSet", enis, (w, eni) =>
        {
            w.EniHead(eni, cloud, groupNames);
            w.Attachment(eni, instanceOwnerId: null);
            w.AddressesAndType(eni, cloud.Region);
        });
        w.Element("ebsOptimized", false);
        w.Element("enaSupport", true);
    }

    /// <summary>The InstanceTypeInfo shape (DescribeInstanceTypes).</summary>
    public static void InstanceType(this XmlWriter w, InstanceTypeLimits type)
    {
        w.Element("instanceType", type.Name);
        w.Element("currentGeneration", true);
        w.Element("freeTierEligible", false);
        w.Element("bareMetal", false);
        w.Element("hypervisor", "nitro");
        w.Start("vCpuInfo");
        w.Element("defaultVCpus", type.VCpus);
        w.End();
        w.Start("memoryInfo");
        w.Element("sizeInMiB", type.MemoryMiB);
        w.End();
        w.Start("networkInfo");
        w.Element("networkPerformance", "Up to 10 Gigabit");
        w.Element("maximumNetworkInterfaces", type.MaximumNetworkInterfaces);
        w.Element("maximumNetworkCards", 1);
        w.Element("defaultNetworkCardIndex", 0);
        w.Set("networkCards", [type], (w, t) =>
        {
            w.Element("networkCardIndex", 0);
            w.Element("networkPerformance", "Up to 10 Gigabit");
            w.Element("maximumNetworkInterfaces", t.MaximumNetworkInterfaces);
        });
        w.Element("ipv4AddressesPerInterface", type.Ipv4AddressesPerInterface);
        w.Element("ipv6AddressesPerInterface", type.Ipv6AddressesPerInterface);
        w.Element("ipv6Supported", true);
        w.Element("enaSupport", "required");
        w.Element("efaSupported", false);
        w.End();
    }

    /// <summary>The Subnet shape (DescribeSubnets).</summary>
    public static void Subnet(this XmlWriter w, Subnet subnet, Ec2Cloud cloud)
    {
        w.Element("subnetId", subnet.SubnetId);
        w.Element("subnetArn", $"arn:aws:ec2:{cloud.Region}:{cloud.AccountId}:subnet/{subnet.SubnetId}");
        w.Element("state", "available");
        w.Element("ownerId", cloud.AccountId);
        w.Element("vpcId", subnet.VpcId);
        w.Element("cidrBlock", subnet.Cidr.ToString());
        w.Set("ipv6CidrBlockAssociationSet", Array.Empty<string>(), (_, _) => { });
        w.Element("availableIpAddressCount", subnet.AvailableIpAddressCount);
        w.Element("availabilityZone", subnet.AvailabilityZone);
        w.Element("defaultForAz", false);
        w.Element("mapPublicIpOnLaunch", false);
        w.Element("assignIpv6AddressOnCreation", false);
        w.TagSet(subnet.Tags);
    }

    /// <summary>The SecurityGroup shape (DescribeSecurityGroups); egress allows everything, as a new group's does.</summary>
    public static void SecurityGroup(this XmlWriter w, SecurityGroup group, Ec2Cloud cloud)
    {
        w.Element("ownerId", cloud.AccountId);
        w.Element("groupId", group.GroupId);
        w.Element("groupName", group.GroupName);
        w.Element("groupDescription", group.Description);
        w.Element("vpcId", group.VpcId);
        w.Set("ipPermissions", Array.Empty<string>(), (_, _) => { });
        w.Set("ipPermissionsEgress", [group], (w, _) =>
        {
            w.Element("ipProtocol", "-1");
            w.Set("groups", Array.Empty<string>(), (_, _) => { });
            w.Set("ipRanges", ["0.0.0.0/0"], (w, cidr) => w.Element("cidrIp", cidr));
            w.Set("ipv6Ranges", Array.Empty<string>(), (_, _) => { });
            w.Set("prefixListIds", Array.Empty<string>(), (_, _) => { });
        });
        w.TagSet(group.Tags);
    }
}
