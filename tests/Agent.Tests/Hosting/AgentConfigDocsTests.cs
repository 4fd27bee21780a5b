using System.Text.Json.Serialization.Metadata;
using Fathom.Agent.Hosting;

namespace Fathom.Agent.Tests.Hosting;

/// <summary>
/// docs/agent.md is the configuration reference (issue 9 §7): every field the agent reads is
/// written there (the datastore's, which docs/agent.md points to, in docs/datastore.md), so a field
/// added without its line fails here.
/// </summary>
public sealed class AgentConfigDocsTests
{
    [Fact]
    public void Every_field_of_agent_json_is_in_the_reference()
    {
        var docs = File.ReadAllText(Path.Combine(Repository.Root, "docs", "agent.md"))
            + File.ReadAllText(Path.Combine(Repository.Root, "docs", "datastore.md"));
        var fields = Fields(AgentConfigJson.Default.AgentConfig, "", []).ToList();

        Assert.Contains(fields, f => f.EndsWith(".sticky.retentionSeconds", StringComparison.Ordinal));
        Assert.Contains(fields, f => f.EndsWith(".overlay.vni", StringComparison.Ordinal));
        // A key as the JSON examples write it ("warmEnis") or as the reference tables do (`ttlSeconds`).
        var missing = fields.Where(f => f[(f.LastIndexOf('.') + 1)..] is var key
                                        && !docs.Contains($"\"{key}\"", StringComparison.Ordinal)
                                        && !docs.Contains($"`{key}`", StringComparison.Ordinal)).ToList();
        Assert.True(missing.Count == 0, "not in docs/agent.md nor docs/datastore.md: " + string.Join(", ", missing));
    }

    // Each field's path (pools.sticky.names), through every nested object of the config's JSON contract.
    private static IEnumerable<string> Fields(JsonTypeInfo type, string path, HashSet<Type> seen)
    {
        if (type.Kind != JsonTypeInfoKind.Object || !seen.Add(type.Type)) yield break;
        // What a config file can set: computed getters (metricsEndPoint, …) are never read from it.
        foreach (var property in type.Properties.Where(p => p.Set is not null))
        {
            var field = $"{path}.{property.Name}";
            yield return field;
            var inner = Nullable.GetUnderlyingType(property.PropertyType) ?? property.PropertyType;
            var element = inner.IsArray ? inner.GetElementType()!
                : inner.IsGenericType && inner.GetGenericArguments() is [var only] ? only : inner;
            if (element.Namespace?.StartsWith("Fathom", StringComparison.Ordinal) == true
                && type.Options.TryGetTypeInfo(element, out var nested))
                foreach (var f in Fields(nested, field, seen)) yield return f;
        }
    }
}
