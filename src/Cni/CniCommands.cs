using System.Runtime.ExceptionServices;

namespace Fathom.Cni;

/// <summary>What a command handler gets besides the request: the mode's datapath and the IPAM plugin, if any.</summary>
/// <param name="Datapath">The datapath of the config's mode.</param>
/// <param name="Ipam">The delegated IPAM plugin, or null when the config has no <c>ipam.type</c>.</param>
public sealed record CniContext(IDatapath Datapath, IpamPlugin? Ipam);

/// <summary>A command handler: returns the result to print (ADD) or null (every other command).</summary>
public delegate CniResult? CniHandler(CniRequest request, CniContext context);

/// <summary>
/// The spec's logic for each command around one datapath (CNI spec 1.1 §"CNI Operations"):
/// delegated IPAM, releasing it when ADD fails, idempotent DEL that always releases, chaining
/// through prevResult. The plugin's Program.cs maps CNI_COMMAND to these.
/// </summary>
public static class CniCommands
{
    /// <summary>The CNI_COMMAND spelling of <paramref name="command"/>.</summary>
    public static string Name(CniCommand command) => command switch
    {
        CniCommand.Add => "ADD",
        CniCommand.Del => "DEL",
        CniCommand.Check => "CHECK",
        CniCommand.Status => "STATUS",
        CniCommand.Gc => "GC",
        CniCommand.Version => "VERSION",
        _ => command.ToString(),
    };

    /// <summary>Parses a CNI_COMMAND value (exact, upper case, as the spec spells them).</summary>
    public static bool TryParse(string? value, out CniCommand command)
    {
        (var ok, command) = value switch
        {
            "ADD" => (true, CniCommand.Add),
            "DEL" => (true, CniCommand.Del),
            "CHECK" => (true, CniCommand.Check),
            "STATUS" => (true, CniCommand.Status),
            "GC" => (true, CniCommand.Gc),
            "VERSION" => (true, CniCommand.Version),
            _ => (false, default),
        };
        return ok;
    }

    /// <summary>
    /// ADD: IPAM allocates, the datapath attaches; if the datapath fails the allocation is
    /// released (IPAM DEL) before the error is reported. In a chain the result is appended to
    /// prevResult, interface indexes shifted past the previous interfaces.
    /// </summary>
    public static CniResult? Add(CniRequest request, CniContext context)
    {
        var ipamResult = context.Ipam?.Add();
        CniResult own;
        try
        {
            own = context.Datapath.Add(request, ipamResult);
        }
        catch (Exception failure) when (context.Ipam is not null)
        {
            try
            {
                context.Ipam.Delete();
            }
            catch (CniException release)
            {
                // Report the datapath's failure (the cause); say the address may still be held.
                throw WithNote(failure, $"and releasing the address with ipam plugin \"{context.Ipam.Type}\" failed too: {release.Message}");
            }
            throw;
        }

        var config = request.Config;
        if (own.Dns is null)
        {
            // As the reference bridge plugin: the config's dns wins, else what IPAM said.
            own.Dns = config.Dns is { IsEmpty: false } ? config.Dns : ipamResult?.Dns;
        }
        return config.PrevResult is { } prev ? Append(prev, own) : own;
    }

    /// <summary>
    /// DEL: the datapath detaches (idempotent, netns may be gone), then IPAM releases — always,
    /// even when the datapath failed, so a pod that is gone never keeps its address
    /// (CNI spec 1.1 §DEL: "clean up as many resources as possible").
    /// </summary>
    public static CniResult? Delete(CniRequest request, CniContext context)
    {
        ExceptionDispatchInfo? failure = null;
        try
        {
            context.Datapath.Delete(request, request.Config.PrevResult);
        }
        catch (Exception e)
        {
            failure = ExceptionDispatchInfo.Capture(e);
        }

        if (context.Ipam is not null)
        {
            try
            {
                context.Ipam.Delete();
            }
            catch (CniException release) when (failure is not null)
            {
                throw WithNote(failure.SourceException, $"and ipam plugin \"{context.Ipam.Type}\" failed to release: {release.Message}");
            }
        }
        failure?.Throw();
        return null;
    }

    /// <summary>CHECK: needs prevResult; IPAM checks its allocation first, then the datapath compares live state.</summary>
    public static CniResult? Check(CniRequest request, CniContext context)
    {
        var prev = request.Config.PrevResult ?? throw new CniException(CniErrorCode.InvalidNetworkConfig,
            "CHECK needs \"prevResult\" in the config", "the runtime must pass the result of the ADD (CNI spec 1.1 §CHECK)");
        context.Ipam?.Check();
        context.Datapath.Check(request, prev);
        return null;
    }

    /// <summary>STATUS: IPAM's status, then the datapath's (50/51 when it cannot serve ADD).</summary>
    public static CniResult? Status(CniRequest request, CniContext context)
    {
        context.Ipam?.Status();
        var status = context.Datapath.Status();
        if (status.Problem is { } problem)
            throw new CniException(problem, status.Message ?? $"network \"{request.Config.Name}\" is not available");
        return null;
    }

    /// <summary>GC: IPAM frees what <c>cni.dev/attachments</c> does not list, then the datapath does.</summary>
    public static CniResult? GarbageCollect(CniRequest request, CniContext context)
    {
        context.Ipam?.GarbageCollect();
        context.Datapath.GarbageCollect(request.Config.ValidAttachments);
        return null;
    }

    /// <summary>
    /// The chained result (CNI spec 1.1 §"Chained plugins"): prevResult's interfaces, IPs and
    /// routes, then this plugin's, with its IPs' interface indexes shifted accordingly.
    /// </summary>
    public static CniResult Append(CniResult prev, CniResult own)
    {
        var merged = prev.Clone();
        var offset = prev.Interfaces.Count;
        merged.Interfaces.AddRange(own.Interfaces);
        foreach (var ip in own.Ips)
            merged.Ips.Add(ip.Interface is int i ? ip with { Interface = i + offset } : ip);
        merged.Routes.AddRange(own.Routes);
        merged.Dns = own.Dns ?? prev.Dns;
        return merged;
    }

    private static CniException WithNote(Exception failure, string note) => failure switch
    {
        CniException c => new CniException(c.Code, c.Message, c.Details is null ? note : $"{c.Details}; {note}", c),
        _ => new CniException(CniSkeleton.CodeFor(failure), failure.Message, note, failure),
    };
}
