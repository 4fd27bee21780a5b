using System.Buffers;
using System.Text.Json;

namespace Fathom.Cni;

/// <summary>
/// The optional operator log (<c>"logFile"</c> in the config): one JSON line per invocation
/// with time, command, container, ifname, netns, duration and the result or error. Logging
/// must never change what the runtime sees, so every failure here is swallowed.
/// </summary>
public static class CniLog
{
    /// <summary>Appends one line describing an invocation to <paramref name="path"/>; never throws.</summary>
    public static void Append(string path, DateTimeOffset time, TimeSpan duration, CniRequest request,
        CniResult? result, CniException? error)
    {
        try
        {
            var buffer = new ArrayBufferWriter<byte>(512);
            using (var w = new Utf8JsonWriter(buffer, CniJson.Writer(indented: false)))
            {
                w.WriteStartObject();
                w.WriteString("time", time.UtcDateTime.ToString("O", System.Globalization.CultureInfo.InvariantCulture));
                w.WriteString("command", CniCommands.Name(request.Command));
                w.WriteString("network", request.Config.Name);
                w.WriteString("mode", request.Config.Mode);
                w.WriteString("cniVersion", request.Config.CniVersion);
                if (request.ContainerId.Length > 0) w.WriteString("container", request.ContainerId);
                if (request.IfName.Length > 0) w.WriteString("ifname", request.IfName);
                if (request.NetnsPath is not null) w.WriteString("netns", request.NetnsPath);
                w.WriteNumber("durationMs", Math.Round(duration.TotalMilliseconds, 3));
                if (error is null)
                {
                    w.WriteString("outcome", "ok");
                    if (result is not null)
                    {
                        w.WritePropertyName("result");
                        CniResultJson.Write(w, result, request.Config.CniVersion);
                    }
                }
                else
                {
                    w.WriteString("outcome", "error");
                    w.WriteNumber("code", (int)error.Code);
                    w.WriteString("msg", error.Message);
                    if (error.Details is not null) w.WriteString("details", error.Details);
                }
                w.WriteEndObject();
            }
            buffer.Write("\n"u8);

            // One write with O_APPEND: concurrent invocations do not interleave lines.
            using var file = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete, 1, FileOptions.None);
            file.Write(buffer.WrittenSpan);
        }
        catch (Exception)
        {
            // A full disk or a bad path must not fail a pod's networking.
        }
    }
}
