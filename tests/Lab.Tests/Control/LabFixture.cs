using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Amazon.EC2;
using Amazon.EC2.Model;
using Fathom.Lab.Control;
using Fathom.Netlink;

namespace Fathom.Lab.Tests.Control;

/// <summary>
/// Every kernel test of the lab uses one prefix, "ftlab" unless FATHOM_TEST_LAB_PREFIX names
/// another (./test.sh sweeps "ftlab" with `FATHOM_LAB_PREFIX=ftlab fathomctl lab down`), so
/// they run one after another.
/// </summary>
[CollectionDefinition(Name)]
public sealed class LabCollection
{
    public const string Name = "lab";
}

/// <summary>Shared helpers: the test lab's layout and the server command (the real fathomctl built next to the tests).</summary>
public static class TestLab
{
    /// <summary>
    /// The labs' agents are the published one (<see cref="Repository.Agent"/>), as ./test.sh exports
    /// it, also when these tests run by hand: the lab server, started from this folder, would
    /// otherwise run the fathom-agent.dll beside it, which cannot load the subnet modes' datastore.
    /// </summary>
    static TestLab()
    {
        if (Environment.GetEnvironmentVariable(AgentCommand.Variable) is not { Length: > 0 } && Repository.Agent is { } agent)
            Environment.SetEnvironmentVariable(AgentCommand.Variable, agent);
    }

    /// <summary>
    /// FATHOM_TEST_LAB_PREFIX lets two people run these tests on one machine at once without one
    /// run's <c>lab down</c> tearing down the other's lab; unset, the prefix test.sh sweeps. Not
    /// FATHOM_LAB_PREFIX: <c>eval "$(fathomctl lab env)"</c> exports that for an operator's own
    /// lab, which the tests would then take down.
    /// </summary>
    public static readonly LabLayout Layout = new(
        Environment.GetEnvironmentVariable("FATHOM_TEST_LAB_PREFIX") is { Length: > 0 } prefix ? prefix : "ftlab");

    public static ServerCommand Server =>
        new(Privileged.FindTool("dotnet") ?? "dotnet", [Path.Combine(AppContext.BaseDirectory, "fathomctl.dll")]);

    /// <summary>Runs the real <c>fathomctl</c> on the test lab, as an operator would.</summary>
    public static Shell.Result Ctl(params string[] args) =>
        Shell.Run(Server.FileName, [.. Server.LeadingArguments, .. args],
            env: new Dictionary<string, string> { [LabLayout.PrefixVariable] = Layout.Prefix });

    /// <summary>
    /// What every test that brings the test lab up itself does around its body: require the
    /// tools, take down what an earlier run left, and take the lab down again whatever happens.
    /// </summary>
    public static void WithOwnLab(string[] tools, Action<LabLayout> test)
    {
        Privileged.Require(tools);
        LabControl.Down(Layout);
        try
        {
            test(Layout);
        }
        finally
        {
            LabControl.Down(Layout);
        }
    }

    /// <inheritdoc cref="WithOwnLab"/>
    public static async Task WithOwnLabAsync(string[] tools, Func<LabLayout, Task> test)
    {
        Privileged.Require(tools);
        LabControl.Down(Layout);
        try
        {
            await test(Layout);
        }
        finally
        {
            LabControl.Down(Layout);
        }
    }

    public static LabState Up(LabOptions options)
    {
        var (_, state) = LabControl.Up(Layout, options, Server);
        return state;
    }

    /// <summary>
    /// <c>sleep 600</c> inside <paramref name="netns"/>, as a pod's workload would run, started as
    /// the test's own child (ip netns exec execs it in place, one pid) so the test can reap it;
    /// returns once it runs in there.
    /// </summary>
    public static Process SleepIn(string netns)
    {
        var sleeper = Process.Start(new ProcessStartInfo("ip", ["netns", "exec", netns, "sleep", "600"]) { UseShellExecute = false })!;
        var pid = sleeper.Id;
        Eventually.True(() => Signal.CommandLine(pid).FirstOrDefault() == "sleep", $"sleep to run in {netns}");
        return sleeper;
    }

    /// <summary>Kills a child the test started if it still runs, and reaps it.</summary>
    public static void Reap(Process? child)
    {
        if (child is null) return;
        try { child.Kill(); } catch (InvalidOperationException) { } // already gone
        child.WaitForExit();
        child.Dispose();
    }

    /// <summary>
    /// IMDSv2 as a process in instance <paramref name="netns"/> uses it: a token PUT, then a GET of
    /// /latest/meta-data/<paramref name="path"/> with it.
    /// </summary>
    public static async Task<(HttpStatusCode Status, string Body)> ImdsGetAsync(string netns, string path)
    {
        using var http = HttpClientIn(netns);
        using var put = new HttpRequestMessage(HttpMethod.Put, "http://169.254.169.254/latest/api/token");
        put.Headers.Add("X-aws-ec2-metadata-token-ttl-seconds", "60");
        using var tokenResponse = (await http.SendAsync(put)).EnsureSuccessStatusCode();
        using var get = new HttpRequestMessage(HttpMethod.Get, "http://169.254.169.254/latest/meta-data/" + path);
        get.Headers.Add("X-aws-ec2-metadata-token", await tokenResponse.Content.ReadAsStringAsync());
        using var response = await http.SendAsync(get);
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    /// <summary>An HttpClient whose connections are made from inside <paramref name="netns"/>, as a process in that instance would.</summary>
    public static HttpClient HttpClientIn(string netns)
    {
        var handler = new SocketsHttpHandler
        {
            ConnectCallback = async (context, cancellationToken) =>
            {
                using var ns = Netns.Open(netns);
                var socket = Netns.Run(ns, () => new Socket(System.Net.Sockets.AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp));
                try
                {
                    await socket.ConnectAsync(new IPEndPoint(IPAddress.Parse(context.DnsEndPoint.Host), context.DnsEndPoint.Port), cancellationToken);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            },
        };
        return new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(10) };
    }
}

/// <summary>One lab (2 × t3.medium, 2 subnets) for all tests of a class; always torn down.</summary>
public sealed class LabFixture : IDisposable
{
    public LabState State { get; }
    public AmazonEC2Client Ec2 { get; }

    public LabFixture()
    {
        if (Privileged.MissingPrerequisite("ip", "dnsmasq", "dhclient") is not null)
        {
            State = null!;
            Ec2 = null!;
            return;
        }
        LabControl.Down(TestLab.Layout); // a previous run killed mid-way
        State = TestLab.Up(new LabOptions { Nodes = 2, InstanceType = "t3.medium", Subnets = 2 });
        Ec2 = LabEc2Client.Create(State, maxErrorRetry: 0);
    }

    public void Dispose()
    {
        Ec2?.Dispose();
        if (State is not null) LabControl.Down(TestLab.Layout);
    }

    /// <summary>Detaches (if attached) and deletes an ENI: tests leave the lab as they found it.</summary>
    public async Task RemoveEniAsync(string eniId)
    {
        try
        {
            var eni = (await Ec2.DescribeNetworkInterfacesAsync(new DescribeNetworkInterfacesRequest { NetworkInterfaceIds = [eniId] })).NetworkInterfaces[0];
            if (eni.Attachment?.AttachmentId is { } attachment)
                await Ec2.DetachNetworkInterfaceAsync(new DetachNetworkInterfaceRequest { AttachmentId = attachment, Force = true });
            await Ec2.DeleteNetworkInterfaceAsync(new DeleteNetworkInterfaceRequest { NetworkInterfaceId = eniId });
        }
        catch (AmazonEC2Exception) { }
    }
}
