namespace Fathom.Lab;

/// <summary>
/// Replaces a file so that a reader sees the old content or the new, never half: the lab's
/// state files (lab.json, pods.json, ec2.json) and dnsmasq's hosts files. It sits in the lab's
/// lowest namespace so every part can use it without depending on another (docs/lab.md, Code).
/// </summary>
internal static class AtomicFile
{
    /// <summary>Writes a temp file beside <paramref name="path"/>, then renames it over: rename(2) is atomic.</summary>
    public static void Write(string path, ReadOnlySpan<byte> bytes)
    {
        var temp = $"{path}.{Environment.ProcessId}.tmp";
        File.WriteAllBytes(temp, bytes);
        File.Move(temp, path, overwrite: true);
    }
}
