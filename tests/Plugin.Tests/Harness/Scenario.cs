using System.Text.Json.Nodes;

namespace Fathom.Plugin.Tests.Harness;

/// <summary>One step of a scenario: the plugin call and the kernel state of host and pod right after it.</summary>
internal sealed record Step(string Name, CniOutcome Outcome, KernelState Host, KernelState? Pod)
{
    /// <summary>The result reduced to what the spec defines, with the pod's netns path replaced by "&lt;pod&gt;" so two beds compare.</summary>
    public string NormalizedResult(string podPath) => Outcome.Succeeded && Outcome.Json is { } json
        ? Normalize(json, podPath)
        : "error";

    internal static string Normalize(JsonObject result, string podPath)
    {
        var copy = (JsonObject)result.DeepClone();
        // dns {} and an absent dns are the same result (types.DNS omitempty in libcni).
        if (copy["dns"] is JsonObject dns && dns.Count == 0) copy.Remove("dns");
        if (copy["interfaces"] is JsonArray interfaces)
            foreach (var i in interfaces.OfType<JsonObject>())
                if ((string?)i["sandbox"] == podPath) i["sandbox"] = "<pod>";
        return Canonical(copy);
    }

    /// <summary>JSON with object keys sorted, so key order does not matter.</summary>
    private static string Canonical(JsonNode? node) => node switch
    {
        JsonObject o => "{" + string.Join(",", o.OrderBy(p => p.Key, StringComparer.Ordinal)
            .Select(p => $"\"{p.Key}\":{Canonical(p.Value)}")) + "}",
        JsonArray a => "[" + string.Join(",", a.Select(Canonical)) + "]",
        null => "null",
        _ => node.ToJsonString(),
    };
}

/// <summary>
/// The reference host-device plugin's test scenarios (plugins/main/host-device/host-device_test.go),
/// written once and run through any plugin binary: each returns the trace of steps, so the
/// fathom tests assert on it and the differential tests compare two traces field by field.
/// </summary>
internal sealed class Scenario(UnderlayBed bed, string cniPath, string plugin, string type, string version)
{
    public List<Step> Steps { get; } = [];

    public UnderlayBed Bed => bed;

    /// <summary>The CNI_PATH the scenario's calls get.</summary>
    public string CniPath => cniPath;

    public bool HasCheck => string.CompareOrdinal(version, "0.4.0") >= 0;

    public JsonObject Config(bool staticIpam = false, string? device = UnderlayBed.Device, string? hwaddr = null, string? kernelpath = null) =>
        UnderlayConfigs.Build(version, type, device, staticIpam, hwaddr, kernelpath);

    public Step Run(string name, CniCall call, JsonObject config)
    {
        var outcome = CniExec.Run(bed.Host.Name, plugin, call, config);
        var podAlive = File.Exists(bed.Pod.Path);
        var step = new Step(name, outcome, KernelState.Read(bed.Host.Name), podAlive ? KernelState.Read(bed.Pod.Name) : null);
        Steps.Add(step);
        return step;
    }

    public Step Add(JsonObject config, string ifName = "eth0") =>
        Run($"ADD {ifName}", bed.Call("ADD", cniPath, ifName), config);

    public Step Check(JsonObject config, JsonObject addResult, string ifName = "eth0") =>
        Run($"CHECK {ifName}", bed.Call("CHECK", cniPath, ifName), UnderlayConfigs.WithPrevResult(config, addResult));

    public Step Del(JsonObject config, JsonObject? addResult, string ifName = "eth0", string label = "") =>
        Run($"DEL {ifName}{label}", bed.Call("DEL", cniPath, ifName), UnderlayConfigs.WithPrevResult(config, addResult));

    // ---- the scenarios ----

    /// <summary>"works with a valid config without IPAM": ADD, CHECK (≥ 0.4.0), DEL.</summary>
    public void WithoutIpam()
    {
        var config = Config();
        var add = Add(config);
        if (HasCheck && add.Outcome.Succeeded) Check(config, add.Outcome.Result);
        Del(config, add.Outcome.Json);
    }

    /// <summary>"works with a valid config with IPAM" (static): ADD, CHECK (≥ 0.4.0), DEL.</summary>
    public void WithStaticIpam()
    {
        var config = Config(staticIpam: true);
        var add = Add(config);
        if (HasCheck && add.Outcome.Succeeded) Check(config, add.Outcome.Result);
        Del(config, add.Outcome.Json);
    }

    /// <summary>"fails an invalid config": no device, hwaddr or kernelpath.</summary>
    public void InvalidConfig() => Add(Config(device: null));

    /// <summary>
    /// "ensures CmdDel is idempotent": ADD; a new device takes the original name on the host so
    /// DEL cannot move it back (fails, device stays in the pod); the conflict goes; DEL succeeds;
    /// DEL again; DEL without CNI_NETNS.
    /// </summary>
    public void DelIdempotentWithNameConflict()
    {
        var config = Config(staticIpam: true);
        var add = Add(config);
        // (This kernel has no dummy driver: a veth pair stands in for "some other device".)
        Shell.IpIn(bed.Host.Name, "link", "add", UnderlayBed.Device, "address", "02:f0:0d:00:00:c1",
            "type", "veth", "peer", "name", "conflict0", "address", "02:f0:0d:00:00:c2");
        Del(config, add.Outcome.Json, label: " (host name taken)");
        Shell.IpIn(bed.Host.Name, "link", "del", UnderlayBed.Device);
        Del(config, add.Outcome.Json, label: " (conflict gone)");
        Del(config, add.Outcome.Json, label: " (again)");
        Run("DEL eth0 (no netns)", bed.Call("DEL", cniPath) with { NetnsPath = null }, UnderlayConfigs.WithPrevResult(config, add.Outcome.Json));
    }

    /// <summary>
    /// "an interface with the same name already in the container": eth0 exists in the pod, ADD
    /// eth0 is refused, ADD net1 works, DEL net1 leaves eth0 untouched.
    /// </summary>
    public void IfNameTakenInPod()
    {
        Shell.IpIn(bed.Pod.Name, "link", "add", "eth0", "address", "02:f0:0d:00:00:e1",
            "type", "veth", "peer", "name", "eth0peer", "address", "02:f0:0d:00:00:e2");
        Shell.IpIn(bed.Pod.Name, "addr", "add", "192.168.77.1/24", "dev", "eth0");
        Shell.IpIn(bed.Pod.Name, "link", "set", "eth0", "up");
        var config = Config(staticIpam: true);
        Add(config, "eth0");
        var add = Add(config, "net1");
        Del(config, add.Outcome.Json, "net1");
    }

    /// <summary>DEL after the pod's namespace is gone (kubelet's common case, kubernetes#43014).</summary>
    public void DelAfterNetnsGone()
    {
        var config = Config(staticIpam: true);
        var add = Add(config);
        // The runtime removes the netns; the veth dies with it (a real NIC would return to init_net).
        Shell.Ip("netns", "del", bed.Pod.Name);
        Del(config, add.Outcome.Json, label: " (netns gone)");
    }

    /// <summary>Selecting the device by MAC instead of by name.</summary>
    public void ByHwAddr()
    {
        var config = Config(device: null, hwaddr: UnderlayBed.DeviceMac.ToUpperInvariant(), staticIpam: true);
        var add = Add(config);
        Del(config, add.Outcome.Json);
    }

    public Step this[string name] => Steps.Single(s => s.Name == name);
}
