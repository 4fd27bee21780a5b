using System.Text.Json.Serialization;

namespace Fathom.Agent.State;

/// <summary>Source-generated JSON of the agent's state files (indented: operators read them).</summary>
[JsonSourceGenerationOptions(
    WriteIndented = true,
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    UseStringEnumConverter = true,
    RespectNullableAnnotations = true,
    AllowOutOfOrderMetadataProperties = true)]
[JsonSerializable(typeof(AllocationRecord))]
[JsonSerializable(typeof(CooldownFile))]
[JsonSerializable(typeof(Teardown.TeardownJob))]
internal sealed partial class StateJsonContext : JsonSerializerContext;
