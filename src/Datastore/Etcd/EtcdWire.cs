using System.Text.Json.Serialization;

namespace Fathom.Datastore.Etcd;

// etcd v3's messages as its gRPC gateway speaks them (api/etcdserverpb/rpc.proto, proto3 JSON:
// bytes are base64, 64-bit integers are strings, zero values are left out). Only the fields Fathom uses.

internal sealed class ResponseHeader
{
    [JsonPropertyName("revision")] public long Revision { get; set; }
}

internal sealed class KeyValue
{
    [JsonPropertyName("key")] public byte[] Key { get; set; } = [];
    [JsonPropertyName("value")] public byte[]? Value { get; set; }
    [JsonPropertyName("create_revision")] public long CreateRevision { get; set; }
    [JsonPropertyName("mod_revision")] public long ModRevision { get; set; }
    [JsonPropertyName("lease")] public long Lease { get; set; }
}

internal sealed class RangeRequest
{
    [JsonPropertyName("key")] public required byte[] Key { get; init; }
    [JsonPropertyName("range_end")] public byte[]? RangeEnd { get; init; }
}

internal sealed class RangeResponse
{
    [JsonPropertyName("header")] public ResponseHeader Header { get; set; } = new();
    [JsonPropertyName("kvs")] public List<KeyValue> Kvs { get; set; } = [];
}

/// <summary>A condition of a transaction; a missing key compares as revision 0.</summary>
internal sealed class Compare
{
    [JsonPropertyName("key")] public required byte[] Key { get; init; }
    [JsonPropertyName("target")] public required string Target { get; init; } // CREATE, MOD, LEASE
    [JsonPropertyName("result")] public string Result { get; init; } = "EQUAL";
    [JsonPropertyName("create_revision")] public long? CreateRevision { get; init; }
    [JsonPropertyName("mod_revision")] public long? ModRevision { get; init; }
    [JsonPropertyName("lease")] public long? Lease { get; init; }
}

internal sealed class PutRequest
{
    [JsonPropertyName("key")] public required byte[] Key { get; init; }
    [JsonPropertyName("value")] public required byte[] Value { get; init; }
    [JsonPropertyName("lease")] public long? Lease { get; init; }
}

internal sealed class DeleteRangeRequest
{
    [JsonPropertyName("key")] public required byte[] Key { get; init; }
}

internal sealed class RequestOp
{
    [JsonPropertyName("request_put")] public PutRequest? Put { get; init; }
    [JsonPropertyName("request_delete_range")] public DeleteRangeRequest? Delete { get; init; }
}

internal sealed class TxnRequest
{
    [JsonPropertyName("compare")] public List<Compare> Compare { get; init; } = [];
    [JsonPropertyName("success")] public List<RequestOp> Success { get; init; } = [];
    [JsonPropertyName("failure")] public List<RequestOp> Failure { get; init; } = [];
}

internal sealed class TxnResponse
{
    [JsonPropertyName("header")] public ResponseHeader Header { get; set; } = new();
    [JsonPropertyName("succeeded")] public bool Succeeded { get; set; }
}

internal sealed class LeaseGrantRequest
{
    [JsonPropertyName("TTL")] public long Ttl { get; init; }
}

internal sealed class LeaseGrantResponse
{
    [JsonPropertyName("ID")] public long Id { get; set; }
    [JsonPropertyName("TTL")] public long Ttl { get; set; }
}

internal sealed class LeaseIdRequest
{
    [JsonPropertyName("ID")] public long Id { get; init; }
}

internal sealed class LeaseKeepAliveResult
{
    [JsonPropertyName("result")] public LeaseGrantResponse? Result { get; set; }
    [JsonPropertyName("error")] public GatewayError? Error { get; set; }
}

internal sealed class WatchCreateRequest
{
    [JsonPropertyName("key")] public required byte[] Key { get; init; }
    [JsonPropertyName("range_end")] public byte[]? RangeEnd { get; init; }
    [JsonPropertyName("start_revision")] public long StartRevision { get; init; }
}

internal sealed class WatchRequest
{
    [JsonPropertyName("create_request")] public required WatchCreateRequest Create { get; init; }
}

internal sealed class WatchEvent
{
    [JsonPropertyName("type")] public string? Type { get; set; } // absent for PUT (proto3's zero value)
    [JsonPropertyName("kv")] public KeyValue Kv { get; set; } = new();
}

internal sealed class WatchResponse
{
    [JsonPropertyName("header")] public ResponseHeader Header { get; set; } = new();
    [JsonPropertyName("created")] public bool Created { get; set; }
    [JsonPropertyName("canceled")] public bool Canceled { get; set; }
    [JsonPropertyName("compact_revision")] public long CompactRevision { get; set; }
    [JsonPropertyName("cancel_reason")] public string? CancelReason { get; set; }
    [JsonPropertyName("events")] public List<WatchEvent> Events { get; set; } = [];
}

internal sealed class WatchStreamMessage
{
    [JsonPropertyName("result")] public WatchResponse? Result { get; set; }
    [JsonPropertyName("error")] public GatewayError? Error { get; set; }
}

/// <summary>The gateway's error body: gRPC status code and etcd's message ("etcdserver: no leader").</summary>
internal sealed class GatewayError
{
    [JsonPropertyName("code")] public int Code { get; set; }
    [JsonPropertyName("message")] public string? Message { get; set; }
    [JsonPropertyName("error")] public string? Error { get; set; }
}

[JsonSourceGenerationOptions(
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    NumberHandling = JsonNumberHandling.AllowReadingFromString | JsonNumberHandling.WriteAsString)]
[JsonSerializable(typeof(RangeRequest))]
[JsonSerializable(typeof(RangeResponse))]
[JsonSerializable(typeof(TxnRequest))]
[JsonSerializable(typeof(TxnResponse))]
[JsonSerializable(typeof(LeaseGrantRequest))]
[JsonSerializable(typeof(LeaseGrantResponse))]
[JsonSerializable(typeof(LeaseIdRequest))]
[JsonSerializable(typeof(LeaseKeepAliveResult))]
[JsonSerializable(typeof(WatchRequest))]
[JsonSerializable(typeof(WatchStreamMessage))]
[JsonSerializable(typeof(GatewayError))]
internal sealed partial class EtcdJson : JsonSerializerContext;
