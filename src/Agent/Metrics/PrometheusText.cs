using System.Text;

namespace Fathom.Agent.Metrics;

/// <summary>What every metric of the agent's <c>/metrics</c> (Prometheus text format 0.0.4) starts with.</summary>
public static class PrometheusText
{
    /// <summary>Appends the <c># HELP</c> and <c># TYPE</c> lines of <paramref name="name"/>.</summary>
    /// <param name="text">Where.</param>
    /// <param name="name">The metric's name.</param>
    /// <param name="type"><c>gauge</c>, <c>counter</c> or <c>histogram</c>.</param>
    /// <param name="help">One line saying what it counts.</param>
    public static void Header(StringBuilder text, string name, string type, string help)
    {
        ArgumentNullException.ThrowIfNull(text);
        text.Append("# HELP ").Append(name).Append(' ').Append(help).Append('\n');
        text.Append("# TYPE ").Append(name).Append(' ').Append(type).Append('\n');
    }
}
