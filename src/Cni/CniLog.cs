using System.Buffers;
using System.Text.Json;

namespace Fathom.Cni;

/// <summary>
/// The optional operator log (<c>"logFile"</c> in the config): one JSON line per invocation
/// with time, command, container, ifname, netns, duration, the time of each step
/// (<see cref="CniSteps"/>) and the result or error. Logging
/// must never change what the runtime sees, so every failure here is swallowed.
/// </summary>
public static class CniLog
{
    /// <summary>
    /// Appends one line describing an invocation to <paramref name="path"/>, with the time of each
    /// of its <paramref name="steps"/> when given; never throws.
    /// </summary>
    internal static void Append(string path, DateTimeOffset time, TimeSpan duration, CniRequest request,
        CniResult? result, CniException? error, CniSteps.Recording? steps = null)
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
                w.WriteString("mode", request.Mode);
                w.WriteString("cniVersion", request.Config.CniVersion);
                if (request.ContainerId.Length > 0) w.WriteString("container", request.ContainerId);
                if (request.IfName.Length > 0) w.WriteString("ifname", request.IfName);
                if (request.NetnsPath is not null) w.WriteString("netns", request.NetnsPath);
                w.WriteNumber("durationMs", Math.Round(duration.TotalMilliseconds, 3));
                steps?.WriteTo(w);
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

            // One write(2) on an O_APPEND descriptor: the kernel moves to the end and writes in one
            // step, so concurrent invocations (a runtime sets up many pods at once) neither
            // interleave nor overwrite lines. Not FileStream: FileMode.Append only seeks to the end
            // once at open and then writes at its own offset (pwrite), so two plugins that opened
            // the log together write over each other's line.
            var fd = Interop.Open(path, Interop.O_WRONLY | Interop.O_CREAT | Interop.O_APPEND | Interop.O_CLOEXEC, 0b110_110_110); // 0666 less the umask, as FileStream created it
            if (fd < 0) return;
            using var closer = new Microsoft.Win32.SafeHandles.SafeFileHandle(fd, ownsHandle: true); // close(2), even if the write throws
            new StandardStream(fd, writable: true).Write(buffer.WrittenSpan);
        }
        catch (Exception)
        {
            // A full disk or a bad path must not fail a pod's networking.
        }
    }
}
