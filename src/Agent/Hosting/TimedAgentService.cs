using System.Diagnostics;
using System.Text;
using Fathom.Agent.Metrics;
using Fathom.Agent.Protocol;

namespace Fathom.Agent.Hosting;

/// <summary>
/// The plugin's requests as the agent serves them, timed: ADD (allocate) and DEL (release) latency
/// histograms across every mode, <c>fathom_agent_request_duration_seconds{request}</c> — from the
/// request read to the reply written, waits for a refill included.
/// </summary>
internal sealed class TimedAgentService(IAgentService inner) : IAgentService
{
    private readonly LatencyHistogram _allocate = new();
    private readonly LatencyHistogram _release = new();

    public ValueTask<AgentReply> AllocateAsync(AllocateRequest request, CancellationToken cancellationToken) =>
        Timed(_allocate, () => inner.AllocateAsync(request, cancellationToken));

    public ValueTask<AgentReply> ReleaseAsync(ReleaseRequest request, CancellationToken cancellationToken) =>
        Timed(_release, () => inner.ReleaseAsync(request, cancellationToken));

    public ValueTask<AgentReply> CheckAsync(CheckRequest request, CancellationToken cancellationToken) => inner.CheckAsync(request, cancellationToken);

    public ValueTask<AgentReply> GcAsync(GcRequest request, CancellationToken cancellationToken) => inner.GcAsync(request, cancellationToken);

    public ValueTask<AgentReply> StatusAsync(StatusRequest request, CancellationToken cancellationToken) => inner.StatusAsync(request, cancellationToken);

    /// <summary>The histograms' Prometheus text.</summary>
    public string Render()
    {
        const string Name = "fathom_agent_request_duration_seconds";
        var text = new StringBuilder();
        PrometheusText.Header(text, Name, "histogram", "Time the agent took to answer the plugin's ADD (allocate) and DEL (release) requests, every mode.");
        _allocate.Render(text, Name, "request=\"allocate\"");
        _release.Render(text, Name, "request=\"release\"");
        return text.ToString();
    }

    private static async ValueTask<AgentReply> Timed(LatencyHistogram histogram, Func<ValueTask<AgentReply>> serve)
    {
        var started = Stopwatch.GetTimestamp();
        try
        {
            return await serve().ConfigureAwait(false);
        }
        finally
        {
            histogram.Observe(Stopwatch.GetElapsedTime(started));
        }
    }
}
