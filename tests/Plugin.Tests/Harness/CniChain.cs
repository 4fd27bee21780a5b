using System.Text.Json.Nodes;

namespace Fathom.Plugin.Tests.Harness;

/// <summary>
/// Runs a network configuration list the way the spec's runtime side does (CNI spec §"Network
/// configuration lists", libcni's AddNetworkList/DelNetworkList): ADD every plugin in order, each
/// receiving the previous plugin's result as <c>prevResult</c>; CHECK in order and DEL in
/// reverse order, each receiving the cached final result of the ADD; per-plugin config is the
/// plugin's object plus the list's <c>name</c> and <c>cniVersion</c>, and the runtime's
/// <c>runtimeConfig</c> keys for the capabilities that plugin declares.
/// </summary>
internal sealed class CniChain(string hostNetns, string cniPath, JsonObject conflist, JsonObject? runtimeConfig = null)
{
    /// <summary>Every plugin call made so far, in order: for assertions and for failure messages.</summary>
    public List<CniOutcome> Calls { get; } = [];

    /// <summary>The final result of the last successful ADD (what a runtime caches for DEL and CHECK).</summary>
    public JsonObject? CachedResult { get; private set; }

    private JsonArray Plugins => conflist["plugins"]!.AsArray();

    public CniOutcome Add(CniCall call)
    {
        JsonObject? prev = null;
        CniOutcome? last = null;
        foreach (var plugin in Plugins)
        {
            last = Invoke(call.With("ADD"), plugin!.AsObject(), prev);
            if (!last.Succeeded) return last; // libcni stops at the first failure; the runtime then DELs
            prev = last.Result;
        }
        CachedResult = prev;
        return last ?? throw new InvalidOperationException("empty plugin list");
    }

    public CniOutcome Check(CniCall call)
    {
        CniOutcome? last = null;
        foreach (var plugin in Plugins)
        {
            last = Invoke(call.With("CHECK"), plugin!.AsObject(), CachedResult);
            if (!last.Succeeded) return last;
        }
        return last!;
    }

    /// <summary>DEL in reverse order; keeps going after a failure (as a runtime retries later) and returns the first failure, if any.</summary>
    public CniOutcome? Del(CniCall call)
    {
        CniOutcome? firstFailure = null;
        for (var i = Plugins.Count - 1; i >= 0; i--)
        {
            var outcome = Invoke(call.With("DEL"), Plugins[i]!.AsObject(), CachedResult);
            if (!outcome.Succeeded) firstFailure ??= outcome;
        }
        return firstFailure;
    }

    private CniOutcome Invoke(CniCall call, JsonObject plugin, JsonObject? prevResult)
    {
        var config = (JsonObject)plugin.DeepClone();
        config["name"] = conflist["name"]!.DeepClone();
        config["cniVersion"] = conflist["cniVersion"]!.DeepClone();
        // prevResult: the spec gives none to the first ADD and none to any plugin before 0.4.0's DEL/CHECK.
        if (prevResult is not null) config["prevResult"] = prevResult.DeepClone();
        if (runtimeConfig is not null && plugin["capabilities"] is JsonObject caps)
        {
            var rc = new JsonObject();
            foreach (var (capability, enabled) in caps)
                if (enabled?.GetValue<bool>() == true && runtimeConfig[capability] is { } value)
                    rc[capability] = value.DeepClone();
            if (rc.Count > 0) config["runtimeConfig"] = rc;
        }
        var type = (string)plugin["type"]!;
        var outcome = CniExec.Run(hostNetns, Path.Combine(cniPath, type), call with { CniPath = cniPath }, config);
        Calls.Add(outcome);
        return outcome;
    }
}
