using System.Diagnostics;
using Fathom.Agent.Protocol;
using Fathom.Netlink;

namespace Fathom.Agent.Subnets;

/// <summary>
/// Outgoing NAT for one subnet mode's pods (docs/modes.md, "Leaving the cluster"), as flannel's
/// <c>--ip-masq</c> and Calico's <c>natOutgoing</c> do it: the mode's pod CIDR is known only to the
/// nodes that route it, so a packet from a pod to anything else — another node's VPC address, an
/// underlay or shared pod, a VPC service, the internet — leaves the node with the node's address
/// as its source, and conntrack gives the reply back to the pod. Traffic between the node's subnet
/// modes' CIDRs (pod to pod, either mode) and to the node's own pods keeps its addresses.
/// </summary>
/// <remarks>
/// One nftables table per mode, <c>ip fathom_host_gw</c> or <c>ip fathom_overlay</c>, written whole
/// by <c>nft -f</c> in one transaction and never any other table: the node's own firewall and
/// kube-proxy's rules stay as they are. Re-checked at every reconcile of the mode (a table deleted by
/// hand comes back); removed when the mode's <c>masquerade</c> is off. The check reads the ruleset's
/// generation first (<see cref="NftablesGeneration"/>, one netlink request): while no table of the
/// node's changed since the table was last seen whole, no <c>nft</c> process is started.
/// </remarks>
public sealed class SubnetMasquerade(AllocationMode mode, IpPrefix podCidr, IReadOnlyList<IpPrefix> clusterCidrs, bool enabled,
    string? netnsPath = null)
{
    // The nft binary; a node without it gets one warning and no outgoing NAT.
    private const string Nft = "nft";

    private const int CannotRun = -2;
    private static readonly TimeSpan NftLimit = TimeSpan.FromSeconds(10);
    private bool _applied;
    private string? _lastRefusal;
    private string? _refusal;
    // The ruleset's generation read just before the table was last seen whole; null: look again.
    private uint? _seenAt;

    /// <summary>The mode's table.</summary>
    public string Table { get; } = "fathom_" + Allocation.ModeName(mode).Replace('-', '_');

    /// <summary>True while the mode's pods leave the cluster with the node's address.</summary>
    public bool Active => enabled && _applied;

    /// <summary>The nft input that makes the table what it should be: the rule, or (off) no table at all.</summary>
    public string Ruleset
    {
        get
        {
            // "table; delete table" first: the whole table is replaced in the one transaction, whether it existed or not.
            var replace = $"table ip {Table}\ndelete table ip {Table}\n";
            if (!enabled) return replace;
            var others = string.Join(", ", clusterCidrs.Select(c => c.ToString()));
            return replace + $$"""
                table ip {{Table}} {
                  chain postrouting {
                    type nat hook postrouting priority srcnat; policy accept;
                    ip saddr {{podCidr}} ip daddr != { {{others}} } oifname != "fth*" masquerade comment "fathom: {{Allocation.ModeName(mode)}} pods leave the cluster as the node"
                  }
                }

                """;
        }
    }

    /// <summary>Why nft refused or could not run, once per new reason (the caller logs it), or null.</summary>
    public string? TakeRefusal()
    {
        var refusal = _refusal;
        _refusal = null;
        return refusal;
    }

    /// <summary>
    /// Writes the table unless the kernel still has the one written before; true when that one was gone
    /// (deleted by hand) and is back. A failure is kept for <see cref="TakeRefusal"/>.
    /// </summary>
    public bool Ensure()
    {
        if (_applied && !enabled)
            return false;
        if (_applied)
        {
            // Read before looking, so that a change made after the reading shows as a new generation next time.
            var generation = Generation();
            if (generation is not null && generation == _seenAt) return false;
            if (Present())
            {
                _seenAt = generation;
                return false;
            }
        }
        _seenAt = null;
        var repair = _applied;
        var (code, output) = Run(["-f", "-"], Ruleset);
        // Off on a node without nft: there is no table of ours to remove either.
        _applied = code == 0 || (!enabled && code == CannotRun);
        if (_applied) _lastRefusal = null;
        else Refuse($"nft -f refused the table {Table}: {output.Trim()}");
        return repair && _applied;
    }

    /// <summary>
    /// Deletes the mode's table, whatever the config says (the mode is gone: <see cref="RetiredModes"/>);
    /// true when it was there. A node without nft has none.
    /// </summary>
    public bool Delete()
    {
        _applied = false;
        _seenAt = null;
        return Run(["delete", "table", "ip", Table], null).Code == 0;
    }

    /// <summary>How many times nft was started (tests: a check of an unchanged ruleset starts none).</summary>
    internal int NftRuns { get; private set; }

    // The node's ruleset generation, or null when it cannot be read (the check then runs nft, as before).
    private uint? Generation()
    {
        try
        {
            if (netnsPath is null) return NftablesGeneration.Read();
            using var netns = Netns.Open(netnsPath);
            return NftablesGeneration.Read(netns);
        }
        catch (Exception e) when (e is NetlinkException or IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private bool Present()
    {
        var (code, output) = Run(["list", "chain", "ip", Table, "postrouting"], null);
        return code == 0 && output.Contains("masquerade", StringComparison.Ordinal);
    }

    private void Refuse(string why)
    {
        if (why == _lastRefusal) return;
        _lastRefusal = _refusal = why;
    }

    // nft in the node's netns: the agent's own, or (tests) the one at netnsPath, entered by nsenter.
    private (int Code, string Output) Run(IReadOnlyList<string> args, string? stdin)
    {
        var psi = netnsPath is null ? new ProcessStartInfo(Nft) : new ProcessStartInfo("nsenter") { ArgumentList = { $"--net={netnsPath}", Nft } };
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.UseShellExecute = false;
        psi.RedirectStandardInput = true;
        psi.RedirectStandardOutput = true;
        psi.RedirectStandardError = true;
        Process process;
        NftRuns++;
        try
        {
            process = Process.Start(psi) ?? throw new InvalidOperationException("no process");
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException)
        {
            return (CannotRun, $"cannot run {psi.FileName} (install nftables): {e.Message}");
        }
        using (process)
        {
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            if (stdin is not null) process.StandardInput.Write(stdin);
            process.StandardInput.Close();
            if (!process.WaitForExit(NftLimit))
            {
                process.Kill(entireProcessTree: true);
                process.WaitForExit();
                return (-1, $"nft did not answer within {NftLimit.TotalSeconds:0} s");
            }
            process.WaitForExit();
            return (process.ExitCode, stdout.Result + stderr.Result);
        }
    }
}
