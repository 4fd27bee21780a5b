using System.Net;
using System.Net.NetworkInformation;

namespace Fathom.Lab;

/// <summary>
/// The lab's naming and addressing plan, as pure functions of the prefix (DESIGN.md §6):
/// every namespace is <c>{prefix}-…</c>, so <c>lab down</c> can find everything a lab made
/// from the prefix alone, even when its state file is gone.
/// </summary>
public sealed class LabLayout
{
    /// <summary>The prefix operators get when FATHOM_LAB_PREFIX is unset.</summary>
    public const string DefaultPrefix = "flab";

    /// <summary>Environment variable that selects the lab (tests use "ftlab").</summary>
    public const string PrefixVariable = "FATHOM_LAB_PREFIX";

    /// <summary>Where every lab keeps its state: /run is a tmpfs, so a reboot (which also drops every netns) forgets it too.</summary>
    public const string StateRoot = "/run/fathom-lab";

    /// <summary>The VPC's CIDR (EC2 allows /16 at most).</summary>
    public static readonly IPNetwork VpcCidr = IPNetwork.Parse("10.0.0.0/16");

    /// <summary>
    /// Subnet k (0-based) is 10.0.16k.0/20: 4091 usable addresses after AWS's five reserved,
    /// enough for four c5.4xlarge nodes filled to capacity (DESIGN.md §9) in one subnet.
    /// </summary>
    public const int SubnetPrefixLength = 20;

    /// <summary>At most 16 /20 subnets fit in the /16.</summary>
    public const int MaxSubnets = 16;

    /// <summary>Link-local IMDS address, as on EC2.</summary>
    public static readonly IPAddress ImdsAddress = IPAddress.Parse("169.254.169.254");

    /// <summary>
    /// EC2's MTU inside a VPC (jumbo frames); every ENI veth and bridge uses it so the lab's
    /// fabric MTU is the cloud's.
    /// </summary>
    public const int FabricMtu = 9001;

    /// <summary>The region the lab claims; SigV4 scopes and AZ names follow it.</summary>
    public const string Region = "us-east-1";

    /// <summary>
    /// Prefixes that other parts of Fathom name their own namespaces with ("fathom-bench-…", the
    /// tests' "ftest-…"): a lab with one of them would own those, and its <c>down</c> would
    /// delete them and kill what runs in them.
    /// </summary>
    private static readonly string[] ReservedPrefixes = ["fathom", "ftest"];

    /// <summary>The layout of the lab named <paramref name="prefix"/>.</summary>
    /// <exception cref="ArgumentException">The prefix is not valid (<see cref="IsValidPrefix"/>).</exception>
    public LabLayout(string prefix)
    {
        if (!IsValidPrefix(prefix))
            throw new ArgumentException(ReservedPrefixes.Contains(prefix)
                ? $"invalid lab prefix '{prefix}': reserved ({string.Join(", ", ReservedPrefixes)} name namespaces that are not the lab's)"
                : $"invalid lab prefix '{prefix}': 1-16 chars of [a-z0-9], starting with a letter", nameof(prefix));
        Prefix = prefix;
    }

    /// <summary>The lab selected by FATHOM_LAB_PREFIX, else <see cref="DefaultPrefix"/>.</summary>
    public static LabLayout FromEnvironment()
    {
        var prefix = Environment.GetEnvironmentVariable(PrefixVariable);
        return new LabLayout(string.IsNullOrWhiteSpace(prefix) ? DefaultPrefix : prefix.Trim());
    }

    /// <summary>1–16 chars of [a-z0-9] starting with a letter, and not one of the reserved prefixes.</summary>
    public static bool IsValidPrefix(string prefix) =>
        prefix.Length is >= 1 and <= 16 && char.IsAsciiLetterLower(prefix[0]) &&
        prefix.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c)) &&
        !ReservedPrefixes.Contains(prefix);

    /// <summary>The lab's name: every namespace it makes is {prefix}-….</summary>
    public string Prefix { get; }

    /// <summary>/run/fathom-lab/{prefix}.</summary>
    public string StateDirectory => Path.Combine(StateRoot, Prefix);

    /// <summary>lab.json: configuration, namespaces, processes, endpoints.</summary>
    public string StateFile => Path.Combine(StateDirectory, "lab.json");

    /// <summary>The emulated EC2's state, rewritten after every mutation: a record to inspect, never read back.</summary>
    public string Ec2StateFile => Path.Combine(StateDirectory, "ec2.json");

    /// <summary>Pods recorded by <c>lab pod add</c> and whoever else makes pods.</summary>
    public string PodsFile => Path.Combine(StateDirectory, "pods.json");

    /// <summary>The lab server's stdout/stderr.</summary>
    public string ServerLog => Path.Combine(StateDirectory, "server.log");

    /// <summary>The dhclient-script used inside pods (never the system's, which rewrites /etc/resolv.conf).</summary>
    public string DhclientScript => Path.Combine(StateDirectory, "dhclient-script");

    /// <summary>/run/fathom-lab/{prefix}/{node}: what belongs to one node (its agent's config, socket, state, log; its CNI configs).</summary>
    public string NodeDirectory(string node) => Path.Combine(StateDirectory, node);

    /// <summary>The node agent's config file, as /etc/fathom/agent.json is on a real node.</summary>
    public string AgentConfigFile(string node) => Path.Combine(NodeDirectory(node), "agent.json");

    /// <summary>
    /// The node agent's socket. In a folder of its own, because the agent makes its socket's
    /// folder 0700 (docs/agent.md, Transport); a Unix socket is reached by path from any netns.
    /// </summary>
    public string AgentSocket(string node) => Path.Combine(NodeDirectory(node), "run", "agent.sock");

    /// <summary>The node agent's state directory (/var/lib/fathom/agent on a real node).</summary>
    public string AgentStateDirectory(string node) => Path.Combine(NodeDirectory(node), "agent-state");

    /// <summary>The node agent's stdout and stderr (its JSON log lines), across restarts.</summary>
    public string AgentLog(string node) => Path.Combine(NodeDirectory(node), "agent.log");

    /// <summary>The node's CNI network configs (/etc/cni/net.d on a real node), one conflist per mode.</summary>
    public string CniConfigDirectory(string node) => Path.Combine(NodeDirectory(node), "cni");

    /// <summary>Every namespace of this lab starts with this.</summary>
    public string NetnsPrefix => Prefix + "-";

    /// <summary>The VPC's netns: {prefix}-vpc.</summary>
    public string VpcNetns => Prefix + "-vpc";

    /// <summary>Node i (1-based): {prefix}-node{i}.</summary>
    public string NodeNetns(int node) => NodeNetns(NodeName(node));

    /// <summary>The node named <paramref name="node"/> (<c>lab up</c>'s node1…, or one <c>lab node add</c> named): {prefix}-{node}.</summary>
    public string NodeNetns(string node) => $"{Prefix}-{node}";

    /// <summary>The node's name, which is also what EC2 tags the instance with.</summary>
    public static string NodeName(int node) => $"node{node}";

    /// <summary>A pod's netns: {prefix}-pod-{name}.</summary>
    public string PodNetns(string pod) => $"{Prefix}-pod-{pod}";

    /// <summary>Whether a netns name is this lab's (starts with {prefix}-; another lab whose prefix merely starts the same is not).</summary>
    public bool Owns(string netnsName) => netnsName.StartsWith(NetnsPrefix, StringComparison.Ordinal);

    /// <summary>Subnet k (0-based) CIDR.</summary>
    public static IPNetwork SubnetCidr(int k)
    {
        if (k < 0 || k >= MaxSubnets) throw new ArgumentOutOfRangeException(nameof(k), $"at most {MaxSubnets} subnets");
        return new IPNetwork(new IPAddress([10, 0, (byte)(16 * k), 0]), SubnetPrefixLength);
    }

    /// <summary>Bridge of subnet k in the VPC netns.</summary>
    public static string BridgeName(int k) => $"br-s{k + 1}";

    /// <summary>
    /// The availability zone of every subnet: one zone, because EC2 only attaches an ENI to an
    /// instance of its own zone — one zone lets ENIs of every subnet reach every node (the
    /// seed article's "ENIs in different subnets of the same VPC and zone").
    /// </summary>
    public const string AvailabilityZone = Region + "a";

    /// <summary>
    /// Name of an ENI's VPC-side veth end: "v" + its MAC's 12 hex digits (13 chars, under
    /// IFNAMSIZ 16). Deriving it from the MAC lets the recovery watcher map a vanished link
    /// back to its ENI without state.
    /// </summary>
    public static string VpcPortName(PhysicalAddress mac) => "v" + Convert.ToHexStringLower(mac.GetAddressBytes());

    /// <summary>The MAC of a VPC port name, or null when the name is not one of ours.</summary>
    public static PhysicalAddress? MacOfVpcPort(string linkName)
    {
        if (linkName.Length != 13 || linkName[0] != 'v' || linkName.AsSpan(1).ContainsAnyExcept("0123456789abcdef"))
            return null;
        return new PhysicalAddress(Convert.FromHexString(linkName.AsSpan(1)));
    }

    /// <summary>Device name of an ENI attached at <paramref name="deviceIndex"/>: eth{index}, as on EC2's Linux AMIs.</summary>
    public static string DeviceName(int deviceIndex) => $"eth{deviceIndex}";

    /// <summary>Parses a MAC as EC2 prints it (colon-separated, either case).</summary>
    public static PhysicalAddress ParseMac(string mac) => PhysicalAddress.Parse(mac.Replace(':', '-').ToUpperInvariant());
}
