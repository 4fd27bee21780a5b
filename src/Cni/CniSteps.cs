using System.Diagnostics;
using System.Text.Json;

namespace Fathom.Cni;

/// <summary>
/// Where one invocation's time went, for the operator log's <c>"steps"</c> (docs/cni.md, "Log
/// file"): every named kernel call (<c>KernelCall.Run</c>), agent request, lock, record and the
/// result's write marks the moment it ended, and the log lists each step with the time since the
/// step before it — so work between two marks is counted in the later one. docs/benchmarks.md's
/// "Where each ADD's time goes" is read from it (<c>fathomctl bench cni --plugin-log</c>).
/// <para>
/// Recorded only when the config names a <c>logFile</c>, and only on <see cref="CniSkeleton.Run"/>'s
/// thread (the agent's own kernel calls mark nothing): otherwise a mark is a thread-static read.
/// </para>
/// </summary>
public static class CniSteps
{
    // An ADD marks up to about 20 steps; one with a delegated IPAM a few more.
    private const int Capacity = 64;

    [ThreadStatic]
    private static Recording? t_current;

    /// <summary>Marks the end of a step of the invocation running on this thread, if one is recorded.</summary>
    public static void Mark(string step) => t_current?.Add(step, Stopwatch.GetTimestamp());

    /// <summary>Starts recording this thread's invocation, its clock started at <paramref name="startTimestamp"/> (<see cref="Stopwatch"/>'s).</summary>
    internal static Recording Begin(long startTimestamp) => t_current = new Recording(startTimestamp);

    /// <summary>Stops recording on this thread.</summary>
    internal static void End() => t_current = null;

    /// <summary>One invocation's marks, in order.</summary>
    internal sealed class Recording(long startTimestamp)
    {
        private readonly string[] _steps = new string[Capacity];
        private readonly long[] _ends = new long[Capacity];
        private int _count;
        private int _dropped;

        public void Add(string step, long end)
        {
            if (_count == Capacity)
            {
                _dropped++;
                return;
            }
            _steps[_count] = step;
            _ends[_count++] = end;
        }

        /// <summary>Writes <c>"steps": [{"step", "ms"}, …]</c> (and <c>"stepsDropped"</c> past the capacity).</summary>
        public void WriteTo(Utf8JsonWriter w)
        {
            w.WriteStartArray("steps");
            var previous = startTimestamp;
            for (var i = 0; i < _count; i++)
            {
                w.WriteStartObject();
                w.WriteString("step", _steps[i]);
                w.WriteNumber("ms", Math.Round(Stopwatch.GetElapsedTime(previous, _ends[i]).TotalMilliseconds, 3));
                w.WriteEndObject();
                previous = _ends[i];
            }
            w.WriteEndArray();
            if (_dropped > 0) w.WriteNumber("stepsDropped", _dropped);
        }
    }
}
