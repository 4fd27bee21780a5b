using System.Net;
using System.Text.Json;
using Amazon.EC2;
using Amazon.EC2.Model;
using Amazon.Runtime;
using Fathom.Lab.Control;
using Fathom.Netlink;

namespace Fathom.Lab.Tests.Control;

/// <summary>
/// The lab realized in the kernel, driven like a cloud: through AWSSDK.EC2 on the loopback
/// endpoint, observed with iproute2, ping, dhclient and HTTP from inside the instances.
/// </summary>
[Collection(LabCollection.Name)]
public sealed class LabKernelTests(LabFixture lab) : IClassFixture<LabFixture>
{
    private static readonly string[] Tools = ["ip", "dnsmasq", "dhclient", "busybox"];

    private static string Node(int i) => TestLab.Layout.NodeNetns(i);

    private static string LinkJson(string netns, string device) => Shell.IpIn(netns, "-j", "link", "show", "dev", device);

    private static string MacOf(string netns, string device) =>
        JsonDocument.Parse(LinkJson(netns, device)).RootElement[0].GetProperty("address").GetString()!;

    private static bool HasLink(string netns, string device) =>
        Shell.Run("ip", ["-n", netns, "link", "show", "dev", device]).ExitCode == 0;

    // busybox's ping: busybox-static is a prerequisite, iputils-ping is not. Up to three tries: a
    // path that is broken fails all three, one echo lost on a loaded machine does not fail the test.
    private static bool Ping(string netns, string target, string? device = null) =>
        Enumerable.Range(0, 3).Any(_ =>
            Shell.Exec(netns, "busybox", ["ping", .. device is null ? Array.Empty<string>() : ["-I", device], "-c", "1", "-W", "2", target]).ExitCode == 0);

    [PrivilegedFact("ip", "dnsmasq", "dhclient", "busybox")]
    public void NodesAreUpWithPrimaryEnisAndReachEachOther()
    {
        Privileged.Require(Tools);
        Assert.Equal(2, lab.State.Nodes.Count);
        var node2 = lab.State.Nodes[1];
        Assert.Equal(node2.Mac, MacOf(Node(2), "eth0"));
        Assert.Contains(node2.PrimaryIp, Shell.IpIn(Node(2), "-4", "addr", "show", "dev", "eth0"));
        Assert.True(Ping(Node(1), node2.PrimaryIp), "node1 → node2 over the subnet bridge");
        Assert.True(Ping(Node(1), lab.State.Subnets[0].Gateway), "node1 → its router");
        Assert.True(Ping(Node(1), lab.State.Subnets[1].Gateway), "node1 → the other subnet's router (routed by the VPC)");
        Assert.Equal("1", Shell.Exec(TestLab.Layout.VpcNetns, "cat", "/proc/sys/net/ipv4/ip_forward").Stdout.Trim());
    }

    [PrivilegedFact("ip", "dnsmasq", "dhclient", "busybox")]
    public async Task AnAttachedEniAppearsInItsInstanceWithItsMacAndReachesAnotherInstancesEni()
    {
        Privileged.Require(Tools);
        var a = await LabEc2Client.AttachNewEniAsync(lab.State, "node1");
        var b = await LabEc2Client.AttachNewEniAsync(lab.State, "node2");
        try
        {
            var devA = LabLayout.DeviceName(a.DeviceIndex);
            var devB = LabLayout.DeviceName(b.DeviceIndex);
            Assert.Equal(a.Mac, MacOf(Node(1), devA));
            Assert.Equal(b.Mac, MacOf(Node(2), devB));
            // What an agent would do with a fresh ENI: address it and bring it up.
            Shell.IpIn(Node(1), "addr", "add", a.PrivateIp + "/20", "dev", devA);
            Shell.IpIn(Node(1), "link", "set", devA, "up");
            Shell.IpIn(Node(2), "addr", "add", b.PrivateIp + "/20", "dev", devB);
            Shell.IpIn(Node(2), "link", "set", devB, "up");
            Assert.True(Ping(Node(1), b.PrivateIp, devA), $"{devA} of node1 → {devB} of node2");

            // Secondary IPs work on that ENI: assign one through the API, use it in the instance.
            var assigned = await lab.Ec2.AssignPrivateIpAddressesAsync(new AssignPrivateIpAddressesRequest { NetworkInterfaceId = b.EniId, SecondaryPrivateIpAddressCount = 1 });
            var secondary = assigned.AssignedPrivateIpAddresses[0].PrivateIpAddress;
            Shell.IpIn(Node(2), "addr", "add", secondary + "/20", "dev", devB);
            Assert.True(Ping(Node(1), secondary, devA), $"node1 → a secondary IP of node2's {devB}");
        }
        finally
        {
            await lab.RemoveEniAsync(a.EniId);
            await lab.RemoveEniAsync(b.EniId);
        }
        Assert.False(HasLink(Node(1), LabLayout.DeviceName(a.DeviceIndex)), "detach removes the device");
    }

    [PrivilegedFact("ip", "dnsmasq", "dhclient", "busybox")]
    public async Task PodsConfiguredByDhclientReachEachOther_DetachInAPodRemovesIt_ADestroyedPodGivesTheEniBack()
    {
        Privileged.Require(Tools);
        // The second ENI lives in the other subnet: the pods talk through the VPC router.
        var a = await LabEc2Client.AttachNewEniAsync(lab.State, "node1");
        var b = await LabEc2Client.AttachNewEniAsync(lab.State, "node2", lab.State.Subnets[1].SubnetId);
        try
        {
            var podA = PodNetworking.Add(TestLab.Layout, "ta", "node1", LabLayout.DeviceName(a.DeviceIndex), dhcp: true);
            var podB = PodNetworking.Add(TestLab.Layout, "tb", "node2", LabLayout.DeviceName(b.DeviceIndex), dhcp: true);
            Assert.Equal([a.PrivateIp], podA.Ips);
            Assert.Equal([b.PrivateIp], podB.Ips);
            Assert.Equal(a.Mac, MacOf(podA.Netns, "eth0"));
            Assert.False(HasLink(Node(1), LabLayout.DeviceName(a.DeviceIndex)), "the ENI left the node");
            Assert.True(Ping(podA.Netns, b.PrivateIp), "pod ta → pod tb across subnets");
            Assert.Contains(LabStatus.Read(TestLab.Layout).Pods, p => p.Name == "ta" && p.Node == "node1");

            // Detach while the ENI is inside a pod: gone from the pod, as a real cloud would do.
            var attachment = (await lab.Ec2.DescribeNetworkInterfacesAsync(new DescribeNetworkInterfacesRequest { NetworkInterfaceIds = [a.EniId] }))
                .NetworkInterfaces[0].Attachment.AttachmentId;
            await lab.Ec2.DetachNetworkInterfaceAsync(new DetachNetworkInterfaceRequest { AttachmentId = attachment });
            Assert.False(HasLink(podA.Netns, "eth0"));
            Assert.False(HasLink(Node(1), LabLayout.DeviceName(a.DeviceIndex)), "a detached ENI is not plugged back");

            // A pod netns destroyed without a CNI DEL: the veth died with it; the lab plugs the
            // ENI back into its instance with the same MAC and name.
            PodNetworking.Delete(TestLab.Layout, "tb");
            var devB = LabLayout.DeviceName(b.DeviceIndex);
            Eventually.True(() => HasLink(Node(2), devB), $"{devB} back in node2");
            Assert.Equal(b.Mac, MacOf(Node(2), devB));
        }
        finally
        {
            PodNetworking.Delete(TestLab.Layout, "ta");
            PodNetworking.Delete(TestLab.Layout, "tb");
            await lab.RemoveEniAsync(a.EniId);
            await lab.RemoveEniAsync(b.EniId);
        }
    }

    [PrivilegedFact("ip", "dnsmasq", "dhclient", "busybox")]
    public async Task ImdsAnswersEachInstanceForItselfAndOnlyWithAToken()
    {
        Privileged.Require(Tools);
        foreach (var node in lab.State.Nodes)
        {
            using var http = TestLab.HttpClientIn(node.Netns);
            var unauthenticated = await http.GetAsync("http://169.254.169.254/latest/meta-data/instance-id");
            Assert.Equal(HttpStatusCode.Unauthorized, unauthenticated.StatusCode);

            using var put = new HttpRequestMessage(HttpMethod.Put, "http://169.254.169.254/latest/api/token");
            put.Headers.Add("X-aws-ec2-metadata-token-ttl-seconds", "300");
            var token = await (await http.SendAsync(put)).EnsureSuccessStatusCode().Content.ReadAsStringAsync();

            async Task<string> Get(string path)
            {
                using var get = new HttpRequestMessage(HttpMethod.Get, "http://169.254.169.254/latest/meta-data/" + path);
                get.Headers.Add("X-aws-ec2-metadata-token", token);
                return await (await http.SendAsync(get)).EnsureSuccessStatusCode().Content.ReadAsStringAsync();
            }
            Assert.Equal(node.InstanceId, await Get("instance-id"));
            Assert.Equal(node.InstanceType, await Get("instance-type"));
            Assert.Equal(node.Mac, await Get("mac"));
            Assert.Equal("0", await Get($"network/interfaces/macs/{node.Mac}/device-number"));
            Assert.Equal(node.SubnetId, await Get($"network/interfaces/macs/{node.Mac}/subnet-id"));
        }
    }

    [PrivilegedFact("ip", "dnsmasq", "dhclient", "busybox")]
    public async Task TheEc2ApiAnswersInsideTheVpcToo()
    {
        Privileged.Require(Tools);
        // Issue 4 §2: reachable from EVERY instance, so each node is tried (a route or listener
        // that only works from the first node's subnet port would pass a node1-only check).
        // An agent in an instance calls EC2 at the VPC endpoint; an unsigned call gets EC2's AuthFailure.
        Assert.Equal(2, lab.State.Nodes.Count);
        foreach (var node in lab.State.Nodes)
        {
            using var http = TestLab.HttpClientIn(node.Netns);
            var response = await http.PostAsync(lab.State.VpcEndpoint + "/", new FormUrlEncodedContent(
                new Dictionary<string, string> { ["Action"] = "DescribeInstances", ["Version"] = "2016-11-15" }));
            var body = await response.Content.ReadAsStringAsync();
            Assert.True(body.Contains("AuthFailure", StringComparison.Ordinal), $"{node.Name}: unsigned call to {lab.State.VpcEndpoint} answered {(int)response.StatusCode}: {body}");
        }
    }

    [PrivilegedFact("ip", "dnsmasq", "dhclient", "busybox")]
    public async Task ABadSignatureIsRefused()
    {
        Privileged.Require(Tools);
        var forged = lab.State with { Credentials = lab.State.Credentials with { SecretAccessKey = "not-the-lab-secret-0000000000000000000000" } };
        using var ec2 = LabEc2Client.Create(forged, maxErrorRetry: 0);
        var e = await Assert.ThrowsAsync<AmazonEC2Exception>(() => ec2.DescribeInstancesAsync(new DescribeInstancesRequest()));
        Assert.Equal("AuthFailure", e.ErrorCode);
        // The right key works, and sees both nodes.
        var instances = await lab.Ec2.DescribeInstancesAsync(new DescribeInstancesRequest());
        Assert.Equal(2, instances.Reservations.SelectMany(r => r.Instances).Count());
    }

    [PrivilegedFact("ip", "dnsmasq", "dhclient", "busybox", "aws")]
    public void TheCliReportsTheLabAndItsEnvDrivesTheAwsCli()
    {
        Privileged.Require([.. Tools, "aws"]);
        var fathomctl = TestLab.Server;

        using var status = JsonDocument.Parse(Ctl("lab", "status", "--json").EnsureSuccess("lab status --json").Stdout);
        Assert.Equal("up", status.RootElement.GetProperty("state").GetString());
        Assert.Equal(2, status.RootElement.GetProperty("nodes").GetArrayLength());
        Assert.Equal("10.0.16.1", status.RootElement.GetProperty("subnets")[1].GetProperty("gateway").GetString());
        Assert.Equal(lab.State.Nodes[0].InstanceId, status.RootElement.GetProperty("nodes")[0].GetProperty("instanceId").GetString());

        // `eval "$(fathomctl lab env)"; aws ec2 describe-instances --endpoint-url $FATHOM_EC2_ENDPOINT`
        // Issue 4 §1: every line is a shell export, and the four operator variables are there
        // by name with values an AWS tool accepts.
        var envLines = Ctl("lab", "env").EnsureSuccess("lab env").Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.All(envLines, line => Assert.Matches(@"^export [A-Z_][A-Z0-9_]*=\S+$", line));
        var env = envLines
            .Select(line => line["export ".Length..].Split('=', 2))
            .ToDictionary(kv => kv[0], kv => kv[1]);
        Assert.Matches("^AKIA[A-Z2-7]{16}$", env["AWS_ACCESS_KEY_ID"]);
        Assert.Equal(lab.State.Credentials.AccessKeyId, env["AWS_ACCESS_KEY_ID"]);
        Assert.Equal(40, env["AWS_SECRET_ACCESS_KEY"].Length);
        Assert.Equal(lab.State.Credentials.SecretAccessKey, env["AWS_SECRET_ACCESS_KEY"]);
        Assert.Matches("^[a-z]{2}-[a-z]+-[0-9]$", env["AWS_DEFAULT_REGION"]);
        Assert.Equal(lab.State.Credentials.Region, env["AWS_DEFAULT_REGION"]);
        var endpoint = new Uri(env["FATHOM_EC2_ENDPOINT"]);
        Assert.Equal(Uri.UriSchemeHttp, endpoint.Scheme);
        Assert.Equal("127.0.0.1", endpoint.Host);
        Assert.InRange(endpoint.Port, 1, 65535);
        Assert.Equal(lab.State.LoopbackEndpoint, env["FATHOM_EC2_ENDPOINT"]);
        Assert.Equal(TestLab.Layout.Prefix, env[LabLayout.PrefixVariable]);
        var aws = Shell.Run("aws", ["--endpoint-url", env["FATHOM_EC2_ENDPOINT"], "ec2", "describe-instances",
            "--query", "Reservations[].Instances[].InstanceId", "--output", "text"], env: env).EnsureSuccess("aws ec2 describe-instances");
        Assert.All(lab.State.Nodes, node => Assert.Contains(node.InstanceId, aws.Stdout));

        // Bad flags (exit 2) are fathomctl's own argument handling: tests/Ctl.Tests.
        Assert.Equal(1, Shell.Run(fathomctl.FileName, [.. fathomctl.LeadingArguments, "lab", "env"],
            env: new Dictionary<string, string> { [LabLayout.PrefixVariable] = "ftnolab" }).ExitCode);

        // `pod record` lists only pods of a lab that is up, on one of its nodes; on a down lab it
        // fails and leaves no state directory behind (which would make the lab look half up).
        Assert.Contains("no node 'node9'", Ctl("lab", "pod", "record", "x", "--node", "node9", "--mode", "underlay").Stderr);
        var noLab = Shell.Run(fathomctl.FileName, [.. fathomctl.LeadingArguments, "lab", "pod", "record", "x", "--node", "node1", "--mode", "underlay"],
            env: new Dictionary<string, string> { [LabLayout.PrefixVariable] = "ftnolab" });
        Assert.Equal(1, noLab.ExitCode);
        Assert.Contains("not up", noLab.Stderr);
        Assert.Equal(0, Shell.Run(fathomctl.FileName, [.. fathomctl.LeadingArguments, "lab", "pod", "del", "x"],
            env: new Dictionary<string, string> { [LabLayout.PrefixVariable] = "ftnolab" }).ExitCode);
        Assert.False(Directory.Exists(new LabLayout("ftnolab").StateDirectory));
    }

    /// <summary>
    /// Issue 4 §1: <c>lab status --json</c> lists the VPC, the subnets (CIDR, gateway), the nodes
    /// (name, netns, instance id and type, primary IP) and, once one is recorded, the pods (name,
    /// netns, node, mode, IPs). Every field is read from the real fathomctl's output and checked
    /// against what it describes: the kernel (namespaces, addresses) and the EC2 API.
    /// </summary>
    [PrivilegedFact("ip", "dnsmasq", "dhclient", "busybox")]
    public async Task StatusJsonListsTheVpcSubnetsNodesAndRecordedPodsAsTheyAre()
    {
        Privileged.Require(Tools);
        using (var status = JsonDocument.Parse(Ctl("lab", "status", "--json").EnsureSuccess("lab status --json").Stdout))
        {
            var root = status.RootElement;
            Assert.Equal("up", root.GetProperty("state").GetString());
            Assert.Equal(TestLab.Layout.Prefix, root.GetProperty("prefix").GetString());

            var instances = (await lab.Ec2.DescribeInstancesAsync(new DescribeInstancesRequest()))
                .Reservations.SelectMany(r => r.Instances).ToDictionary(i => i.InstanceId);
            var subnets = (await lab.Ec2.DescribeSubnetsAsync(new DescribeSubnetsRequest())).Subnets.ToDictionary(s => s.SubnetId);

            // The VPC: its id is the one EC2 reports for its subnets and instances; its netns exists.
            var vpc = root.GetProperty("vpc");
            var vpcId = Text(vpc, "vpcId");
            Assert.StartsWith("vpc-", vpcId);
            Assert.All(subnets.Values, s => Assert.Equal(vpcId, s.VpcId));
            Assert.All(instances.Values, i => Assert.Equal(vpcId, i.VpcId));
            Assert.Equal(TestLab.Layout.VpcNetns, Text(vpc, "netns"));
            Assert.True(Netns.Exists(Text(vpc, "netns")), "the VPC netns exists");
            Assert.Equal("10.0.0.0/16", Text(vpc, "cidr"));

            // Subnets: CIDR as EC2 has it; the gateway is the VPC router's address on the subnet's
            // bridge, inside the subnet.
            var subnetsJson = root.GetProperty("subnets").EnumerateArray().ToList();
            Assert.Equal(2, subnetsJson.Count);
            for (var k = 0; k < subnetsJson.Count; k++)
            {
                var subnet = subnetsJson[k];
                var subnetId = Text(subnet, "subnetId");
                Assert.True(subnets.ContainsKey(subnetId), $"{subnetId} is known to DescribeSubnets");
                var cidr = Text(subnet, "cidr");
                Assert.Equal($"10.0.{16 * k}.0/20", cidr);
                Assert.Equal(subnets[subnetId].CidrBlock, cidr);
                var gateway = Text(subnet, "gateway");
                Assert.Equal($"10.0.{16 * k}.1", gateway);
                Assert.True(Contains(cidr, gateway), $"gateway {gateway} in {cidr}");
                Assert.Contains(gateway, Ipv4AddressesOf(TestLab.Layout.VpcNetns, Text(subnet, "bridge")));
            }

            // Nodes: each netns exists, the primary IP is on its eth0, and the instance id, type
            // and IP are what DescribeInstances says of that instance.
            var nodesJson = root.GetProperty("nodes").EnumerateArray().ToList();
            Assert.Equal(2, nodesJson.Count);
            Assert.Equal(2, instances.Count);
            for (var i = 0; i < nodesJson.Count; i++)
            {
                var node = nodesJson[i];
                Assert.Equal($"node{i + 1}", Text(node, "name"));
                var netns = Text(node, "netns");
                Assert.Equal(Node(i + 1), netns);
                Assert.True(Netns.Exists(netns), $"{netns} exists");
                var instanceId = Text(node, "instanceId");
                Assert.Matches("^i-[0-9a-f]{17}$", instanceId);
                Assert.True(instances.TryGetValue(instanceId, out var instance), $"{instanceId} is known to DescribeInstances");
                Assert.Equal("t3.medium", Text(node, "instanceType"));
                Assert.Equal(instance!.InstanceType.Value, Text(node, "instanceType"));
                var primaryIp = Text(node, "primaryIp");
                Assert.Equal(instance.PrivateIpAddress, primaryIp);
                Assert.Equal([primaryIp], Ipv4AddressesOf(netns, "eth0"));
                Assert.True(Contains(subnetsJson[0].GetProperty("cidr").GetString()!, primaryIp), $"{primaryIp} in the first subnet");
            }
            Assert.Equal(nodesJson.Count, nodesJson.Select(n => Text(n, "instanceId")).Distinct().Count());
            Assert.False(root.TryGetProperty("pods", out var none) && none.EnumerateArray().Any(p => Text(p, "name") == "trec"));
        }

        // A pod recorded the way run.sh records the one the CNI plugin made.
        var podNetns = TestLab.Layout.PodNetns("trec");
        Shell.Ip("netns", "add", podNetns);
        try
        {
            Ctl("lab", "pod", "record", "trec", "--node", "node2", "--netns", podNetns, "--mode", "underlay", "--ip", "10.0.0.77")
                .EnsureSuccess("lab pod record");
            using var withPod = JsonDocument.Parse(Ctl("lab", "status", "--json").EnsureSuccess("lab status --json").Stdout);
            var pod = Assert.Single(withPod.RootElement.GetProperty("pods").EnumerateArray(), p => Text(p, "name") == "trec");
            Assert.Equal(podNetns, Text(pod, "netns"));
            Assert.Equal("node2", Text(pod, "node"));
            Assert.Equal("underlay", Text(pod, "mode"));
            Assert.Equal(["10.0.0.77"], pod.GetProperty("ips").EnumerateArray().Select(ip => ip.GetString()));

            // Recorded by path, as a runtime names a netns it made: listed just the same.
            Ctl("lab", "pod", "record", "tpath", "--node", "node1", "--netns", Path.Combine(Netns.RunDirectory, podNetns), "--mode", "underlay")
                .EnsureSuccess("lab pod record by path");
            using var byPath = JsonDocument.Parse(Ctl("lab", "status", "--json").EnsureSuccess("lab status --json with a pod recorded by path").Stdout);
            Assert.Equal(Path.Combine(Netns.RunDirectory, podNetns), Text(Assert.Single(byPath.RootElement.GetProperty("pods").EnumerateArray(), p => Text(p, "name") == "tpath"), "netns"));
        }
        finally
        {
            Netns.TryDelete(podNetns);
        }
        try
        {
            // Gone with its netns, records and all: the runtime deleted the pod without telling the lab.
            using var after = JsonDocument.Parse(Ctl("lab", "status", "--json").EnsureSuccess("lab status --json").Stdout);
            Assert.DoesNotContain(after.RootElement.GetProperty("pods").EnumerateArray(), p => Text(p, "name") is "trec" or "tpath");
        }
        finally
        {
            Ctl("lab", "pod", "del", "trec");
            Ctl("lab", "pod", "del", "tpath");
        }
    }

    private static string Text(JsonElement element, string property) =>
        element.TryGetProperty(property, out var value) && value.ValueKind == JsonValueKind.String
            ? value.GetString()!
            : throw new Xunit.Sdk.XunitException($"'{property}' missing or not a string in {element}");

    private static List<string> Ipv4AddressesOf(string netns, string device) =>
        [.. JsonDocument.Parse(Shell.IpIn(netns, "-j", "-4", "addr", "show", "dev", device)).RootElement[0]
            .GetProperty("addr_info").EnumerateArray().Select(a => a.GetProperty("local").GetString()!)];

    private static bool Contains(string cidr, string address) =>
        IPNetwork.Parse(cidr).Contains(IPAddress.Parse(address));

    /// <summary>fathomctl as an operator runs it, for this test lab.</summary>
    private static Shell.Result Ctl(params string[] args) => TestLab.Ctl(args);

    [PrivilegedFact("ip", "dnsmasq", "dhclient", "busybox")]
    public void UpTwiceIsHarmless()
    {
        Privileged.Require(Tools);
        var (outcome, state) = LabControl.Up(TestLab.Layout, lab.State.Options, TestLab.Server);
        Assert.Equal(UpOutcome.AlreadyUp, outcome);
        Assert.Equal(lab.State.ServerPid, state.ServerPid);
        Assert.Equal("up", LabStatus.Read(TestLab.Layout).State);

        // The same through the CLI, even with other options: exit 0, the lab untouched, and a
        // note that the options in force are the first ones.
        var again = Ctl("lab", "up", "--nodes", "3", "--instance-type", "m5.large").EnsureSuccess("lab up again");
        Assert.Contains("already up", again.Stdout);
        Assert.Contains("other options", again.Stderr);
        var now = LabStateStore.TryLoad(TestLab.Layout)!;
        Assert.Equal(lab.State.ServerPid, now.ServerPid);
        Assert.Equal(lab.State.Nodes.Select(n => n.InstanceId), now.Nodes.Select(n => n.InstanceId));
        Assert.False(Netns.Exists(TestLab.Layout.NodeNetns(3)));
    }

    [PrivilegedFact("ip", "dnsmasq", "dhclient", "busybox")]
    public void ASecondServerIsRefusedAndLeavesTheLabAsItWas()
    {
        Privileged.Require(Tools);
        var refused = Ctl("lab", "serve", "--prefix", TestLab.Layout.Prefix);
        Assert.Equal(1, refused.ExitCode);
        Assert.Contains("only starts through 'fathomctl lab up'", refused.Stderr);
        var now = LabStateStore.TryLoad(TestLab.Layout)!;
        Assert.Equal(LabPhase.Ready, now.Phase);
        Assert.Equal(lab.State.ServerPid, now.ServerPid);
        Assert.Equal("up", LabStatus.Read(TestLab.Layout).State);
    }
}
