namespace Fathom.Lab.Control;

/// <summary>
/// Serializes <c>lab up</c> and <c>lab down</c> of one lab across processes: two <c>up</c>s of
/// one prefix at once would both find it down and both build it, and a <c>down</c> racing an
/// <c>up</c> would delete namespaces the other is filling. The lock is an flock(2) on
/// <c>/run/lock/fathom-lab-{prefix}.lock</c> (the state root when there is no /run/lock) — outside the state directory, which <c>down</c> deletes —
/// taken by opening the file with <see cref="FileShare.None"/>, which .NET implements on Unix
/// as a non-blocking exclusive flock; the kernel drops it when the holder exits, even by SIGKILL.
/// The empty lock file stays (deleting a lock file others may be waiting on breaks the lock).
/// </summary>
public static class LabLock
{
    /// <summary>The lock file of a lab.</summary>
    public static string PathOf(LabLayout layout) => Path.Combine(LockDirectory, $"fathom-lab-{layout.Prefix}.lock");

    private static string LockDirectory => Directory.Exists("/run/lock") ? "/run/lock" : LabLayout.StateRoot;

    /// <summary>Waits until this process holds the lab's lock; dispose to release it.</summary>
    /// <exception cref="TimeoutException">Another process held it for the whole <paramref name="timeout"/>.</exception>
    public static IDisposable Acquire(LabLayout layout, TimeSpan timeout)
    {
        var path = PathOf(layout);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        return Hold(path, timeout, $"lab '{layout.Prefix}' is being changed by another process");
    }

    /// <summary>
    /// Waits until this process holds an exclusive flock on <paramref name="path"/> (created if
    /// missing): a <see cref="FileShare.None"/> open, which fails at once while another holds it.
    /// </summary>
    /// <exception cref="TimeoutException">Another process held it for the whole <paramref name="timeout"/>; <paramref name="busy"/> says who.</exception>
    internal static FileStream Hold(string path, TimeSpan timeout, string busy)
    {
        var waited = System.Diagnostics.Stopwatch.StartNew();
        while (true)
        {
            try
            {
                return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException) when (waited.Elapsed < timeout)
            {
                Thread.Sleep(25);
            }
            catch (IOException e)
            {
                throw new TimeoutException($"{busy} (lock {path} held for {timeout.TotalSeconds:0.#} s)", e);
            }
        }
    }
}
