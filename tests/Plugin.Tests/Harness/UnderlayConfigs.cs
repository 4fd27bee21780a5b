using System.Text.Json.Nodes;

namespace Fathom.Plugin.Tests.Harness;

/// <summary>Network configs for the underlay tests: one shape, sent to fathom or (type host-device) to the reference.</summary>
internal static class UnderlayConfigs
{
    /// <summary>Every spec version Fathom speaks; the reference host-device 1.1.1 stops at 1.0.0.</summary>
    public static readonly string[] Versions = ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"];

    public static readonly string[] ReferenceVersions = ["0.3.0", "0.3.1", "0.4.0", "1.0.0"];

    public static TheoryData<string> AllVersions() => new(Versions);

    public static TheoryData<string> SharedVersions() => new(ReferenceVersions);

    /// <summary>
    /// fathom's attachment records (<c>dataDir</c>) for these tests: beside the test assembly,
    /// not in the machine's /var/lib/cni/fathom, so a test run leaves nothing there.
    /// </summary>
    public static readonly string RecordsDir = Path.Combine(AppContext.BaseDirectory, "cni-records");

    /// <summary>The device-selection field as the test wants it (<c>device</c>, <c>hwaddr</c>, <c>kernelpath</c>).</summary>
    public static JsonObject Build(string version, string type = "fathom", string? device = UnderlayBed.Device,
        bool staticIpam = false, string? hwaddr = null, string? kernelpath = null)
    {
        var config = new JsonObject
        {
            ["cniVersion"] = version,
            ["name"] = "ul-test",
            ["type"] = type,
        };
        if (type == "fathom")
        {
            config["mode"] = "underlay";
            config["dataDir"] = RecordsDir;
        }
        if (device is not null) config["device"] = device;
        if (hwaddr is not null) config["hwaddr"] = hwaddr;
        if (kernelpath is not null) config["kernelpath"] = kernelpath;
        if (staticIpam) config["ipam"] = StaticIpam();
        return config;
    }

    /// <summary>The reference <c>static</c> IPAM: the pod address with a default route via the peer.</summary>
    public static JsonObject StaticIpam() => new()
    {
        ["type"] = "static",
        ["addresses"] = new JsonArray(new JsonObject
        {
            ["address"] = UnderlayBed.PodAddress,
            ["gateway"] = UnderlayBed.Gateway,
        }),
        ["routes"] = new JsonArray(new JsonObject { ["dst"] = "0.0.0.0/0" }),
    };

    /// <summary>The plugin's entry in a conflist: the list carries cniVersion and name.</summary>
    public static JsonObject ListEntry(JsonObject config)
    {
        config.Remove("cniVersion");
        config.Remove("name");
        return config;
    }

    /// <summary>The config with the ADD result as prevResult (for CHECK and DEL from 0.4.0 on, as a runtime sends it).</summary>
    public static JsonObject WithPrevResult(JsonObject config, JsonObject? result)
    {
        var copy = (JsonObject)config.DeepClone();
        if (result is not null && string.CompareOrdinal(version(copy), "0.4.0") >= 0)
            copy["prevResult"] = result.DeepClone();
        return copy;

        static string version(JsonObject c) => (string)c["cniVersion"]!;
    }
}
