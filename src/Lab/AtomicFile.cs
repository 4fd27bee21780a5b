using System.Globalization;

namespace Fathom.Lab;

/// <summary>
/// Replaces a file so that a reader sees the old content or the new, never half: the lab's
/// state files (lab.json, pods.json, ec2.json), dnsmasq's hosts files and the nodes' CNI
/// conflists. It sits in the lab's lowest namespace so every part can use it without depending
/// on another (docs/lab.md, Code).
/// </summary>
internal static class AtomicFile
{
    private static long s_writes;

    /// <summary>
    /// Writes a temp file beside <paramref name="path"/>, then renames it over: rename(2) is atomic.
    /// The temp name is this process's and this write's (pid and a counter), so writers of the same
    /// file — two processes, or two threads of one (e.g. two pods' ADDs writing a node's conflist) —
    /// never write into, or rename away, each other's temp file. A failed write leaves none behind.
    /// </summary>
    public static void Write(string path, ReadOnlySpan<byte> bytes)
    {
        var write = Interlocked.Increment(ref s_writes).ToString(CultureInfo.InvariantCulture);
        var temp = $"{path}.{Environment.ProcessId.ToString(CultureInfo.InvariantCulture)}.{write}.tmp";
        try
        {
            File.WriteAllBytes(temp, bytes);
            File.Move(temp, path, overwrite: true);
        }
        catch
        {
            File.Delete(temp);
            throw;
        }
    }
}
