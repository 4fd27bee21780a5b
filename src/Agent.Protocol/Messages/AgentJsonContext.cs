using System.Text.Json.Serialization;

namespace Fathom.Agent.Protocol;

/// <summary>
/// Source-generated (de)serializers for every message: no reflection, so the AOT plugin links only
/// what it uses. Nullable annotations are enforced (a null where the contract has none is malformed),
/// unknown properties are ignored (an additive change within one protocol version stays readable),
/// and the <c>op</c>/<c>reply</c>/<c>mode</c> discriminators may come anywhere in an object.
/// </summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    UseStringEnumConverter = true,
    RespectNullableAnnotations = true,
    RespectRequiredConstructorParameters = true,
    AllowOutOfOrderMetadataProperties = true)]
[JsonSerializable(typeof(AgentRequest))]
[JsonSerializable(typeof(AgentReply))]
[JsonSerializable(typeof(Allocation))]
public sealed partial class AgentJsonContext : JsonSerializerContext;
