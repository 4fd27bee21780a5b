using System.Buffers;
using System.Text.Json;

namespace Fathom.Cni;

/// <summary>
/// The IPAM plugin a config names in <c>ipam.type</c>, run for ADD, DEL, CHECK, GC and STATUS
/// with the network config on stdin (CNI spec 1.1 §"Delegated plugins (IPAM)").
/// <para>
/// Version bridge: when the IPAM plugin rejects the config's version (error 1, e.g. Debian's
/// host-local 1.1.1 speaks up to 1.0.0 while the runtime asked 1.1.0), Fathom asks its
/// VERSION and speaks the highest version both know; a command that version lacks (GC and
/// STATUS before 1.1.0) is skipped for that plugin, since it cannot hold state for it. What the
/// plugin answered is remembered (<see cref="PluginVersionCache"/>), so later runs go straight to
/// the bridged version.
/// </para>
/// </summary>
public sealed class IpamPlugin
{
    private readonly DelegatedPlugin _plugin;
    private readonly NetworkConfig _config;
    private readonly PluginVersionCache _versions;
    private string? _bridgedVersion; // null: the config's own version
    private bool _chosen, _asked;

    /// <summary>Finds the config's IPAM plugin on <paramref name="cniPath"/>; error 105 when missing.</summary>
    public IpamPlugin(NetworkConfig config, IReadOnlyList<string> cniPath, IReadOnlyDictionary<string, string> environment)
    {
        _config = config;
        var type = config.IpamType ?? throw new ArgumentException("config has no ipam.type", nameof(config));
        _plugin = DelegatedPlugin.Find(type, cniPath, environment);
        _versions = PluginVersionCache.For(config);
    }

    /// <summary>The plugin's type.</summary>
    public string Type => _plugin.Name;

    /// <summary>ADD: allocate; returns the plugin's result (IPs without interface indexes, routes, DNS).</summary>
    public CniResult Add()
    {
        var output = Run(CniCommand.Add)!;
        try
        {
            return CniResultJson.Parse(output, $"result of ipam plugin \"{Type}\"", CniErrorCode.IpamFailure);
        }
        catch (CniException unreadable)
        {
            // It allocated something we cannot use: give it back before failing.
            try
            {
                Delete();
            }
            catch (CniException release)
            {
                throw new CniException(unreadable.Code, unreadable.Message,
                    $"and releasing it failed: {release.Message}", unreadable);
            }
            throw;
        }
    }

    /// <summary>DEL: release (the plugin must be idempotent, as the spec asks).</summary>
    public void Delete() => Run(CniCommand.Del);

    /// <summary>CHECK: the plugin verifies its own allocation.</summary>
    public void Check() => Run(CniCommand.Check);

    /// <summary>GC: the plugin frees what <c>cni.dev/attachments</c> does not list.</summary>
    public void GarbageCollect() => Run(CniCommand.Gc);

    /// <summary>STATUS: the plugin says whether it can allocate.</summary>
    public void Status() => Run(CniCommand.Status);

    // Returns stdout, or null when the command was skipped because the plugin's version lacks it.
    private byte[]? Run(CniCommand command)
    {
        if (!_chosen) ChooseVersion(command);
        try
        {
            return RunAt(command);
        }
        catch (CniException e) when (e.Code == CniErrorCode.IncompatibleVersion && !_asked)
        {
            // Refused: the plugin's versions were not known, or not what the cache said. Ask it, once.
            var common = CniVersion.Negotiate(AskVersions());
            if (common is null || common == (_bridgedVersion ?? _config.CniVersion)) throw;
            _bridgedVersion = common == _config.CniVersion ? null : common;
            return RunAt(command);
        }
    }

    // Before the first call: what is known of the plugin's versions decides which one to speak.
    private void ChooseVersion(CniCommand command)
    {
        _chosen = true;
        var known = _versions.TryGet(_plugin);
        // An entry that shares nothing with fathom is more likely stale than true: ask rather than refuse on it.
        if (known is not null && CniVersion.Negotiate(known) is null) known = null;
        // A plugin from before 1.1.0 does not know GC and STATUS and may fail them with any code
        // (host-local 1.1.1 says "missing containerID"): know its versions first. They are rare calls.
        if (known is null && command is CniCommand.Gc or CniCommand.Status) known = AskVersions();
        if (known is null || known.Contains(_config.CniVersion, StringComparer.Ordinal)) return;
        _bridgedVersion = CniVersion.Negotiate(known) ?? throw new CniException(CniErrorCode.IncompatibleVersion,
            $"ipam plugin \"{Type}\" shares no CNI version with fathom", $"it supports [{string.Join(", ", known)}]");
    }

    // Runs the command in the version chosen; null when that version lacks it (GC, STATUS before 1.1.0).
    private byte[]? RunAt(CniCommand command)
    {
        if (_bridgedVersion is null) return _plugin.Run(command, _config.RawBytes.Span);
        if (!CniVersion.AtLeast(_bridgedVersion, CniVersion.Introduced(command))) return null;
        return _plugin.Run(command, RewriteVersion(_bridgedVersion));
    }

    private IReadOnlyList<string> AskVersions()
    {
        _asked = true;
        var file = PluginVersionCache.Identify(_plugin); // before asking: the answer is this file's
        var versions = _plugin.SupportedVersions();
        if (file is { } identified) _versions.Remember(identified, _plugin, versions);
        return versions;
    }

    // The config as received, with cniVersion (and prevResult's shape) set to `version`.
    private byte[] RewriteVersion(string version)
    {
        var buffer = new ArrayBufferWriter<byte>(_config.RawBytes.Length + 64);
        using (var w = new Utf8JsonWriter(buffer, CniJson.Writer(indented: false)))
        {
            w.WriteStartObject();
            w.WriteString("cniVersion", version);
            foreach (var (key, node) in _config.Raw)
            {
                if (key is "cniVersion" or "cniVersions") continue;
                w.WritePropertyName(key);
                if (key == "prevResult" && _config.PrevResult is { } prev) CniResultJson.Write(w, prev, version);
                else if (node is null) w.WriteNullValue();
                else node.WriteTo(w);
            }
            w.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }
}
