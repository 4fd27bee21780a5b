using System.Text.Json.Serialization;

namespace Fathom.Agent.Protocol;

/// <summary>
/// Source-generated (de)serializers for every message: no reflection, so the AOT plugin links only
/// what it uses. Nullable annotations are enforced (a null where the contract has none is malformed),
/// unknown properties are ignored (an additive change within one protocol version stays readable),
/// and the <c>op</c>/<c>reply</c>/<c>mode</c> discriminators may come anywhere in an object.
/// Optional members with a default are <c>{ get; set; }</c>, not <c>init</c>: the generator assigns
/// every init-only member in one object initializer, so a member missing from the JSON would become
/// null instead of keeping its default (a <see cref="DoneReply"/> without <c>released</c> would have
/// a null list).
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
