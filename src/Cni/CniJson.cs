using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Fathom.Cni;

/// <summary>How Fathom writes JSON for runtimes and operators.</summary>
internal static class CniJson
{
    // Runtimes read this JSON, no browser does: keep quotes and '<' readable instead of \u0022.
    public static JsonWriterOptions Writer(bool indented) => new()
    {
        Indented = indented,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    // Duplicate keys are an error, not "last one wins": a config that says "device" twice is ambiguous.
    public static readonly JsonDocumentOptions Document = new() { MaxDepth = 64, AllowDuplicateProperties = false };

    /// <summary>Parses UTF-8 JSON with <see cref="Document"/> options.</summary>
    public static JsonNode? Parse(ReadOnlySpan<byte> json) => JsonNode.Parse(json, documentOptions: Document);

    /// <summary>The parser's complaint with its position ("... at line 1, byte 14").</summary>
    public static string Where(JsonException e) =>
        e.LineNumber is long line ? $"{e.Message.Split(" LineNumber")[0].TrimEnd(' ', '|')} (line {line + 1}, byte {e.BytePositionInLine ?? 0})" : e.Message;
}
