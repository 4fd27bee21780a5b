using System.Buffers;
using System.Text.Json;
using System.Text.Json.Nodes;
using Fathom.Json;

namespace Fathom.Cni;

/// <summary>How Fathom writes JSON for runtimes and operators, and reads it safely.</summary>
internal static class CniJson
{
    // Runtimes read this JSON, no browser does: keep quotes and '<' readable instead of \u0022.
    public static JsonWriterOptions Writer(bool indented) => new()
    {
        Indented = indented,
        Encoder = AsciiJsonEncoder.Relaxed,
    };

    // Duplicate keys are an error, not "last one wins": a config that says "device" twice is ambiguous.
    // They are found by Inspect, not by the parser: System.Text.Json checks an object of more than 16
    // keys with a hash set seeded from RandomNumberGenerator, which loads OpenSSL (libssl, libcrypto
    // and openssl.cnf, milliseconds) into the plugin for nothing but a seed.
    public static readonly JsonDocumentOptions Document = new() { MaxDepth = 64 };

    /// <summary>
    /// Parses UTF-8 JSON with <see cref="Document"/> options. Text that is not valid Unicode — invalid
    /// UTF-8, or an escaped surrogate without its pair (<c>"\ud800"</c>) — is a <see cref="JsonException"/>
    /// naming where it is, here, rather than an <see cref="InvalidOperationException"/> from whichever
    /// later read of that string or key (System.Text.Json checks text only when it is turned into a
    /// string): RFC 8259 §8.1 requires UTF-8, and a half-read config must not reach a datapath.
    /// </summary>
    public static JsonNode? Parse(ReadOnlySpan<byte> json)
    {
        var text = Inspect(json);
        if (text.InvalidText is [var first, ..] bad)
            throw new JsonException(NotUnicode(first, bad.Count));
        var node = JsonNode.Parse(json, documentOptions: Document);
        return text.DuplicateKey is { } duplicate ? throw new JsonException(duplicate) : node;
    }

    /// <summary>The message for text that is not valid Unicode at <paramref name="first"/> (of <paramref name="count"/> places).</summary>
    public static string NotUnicode(string first, int count) =>
        $"{first} is not valid Unicode text (invalid UTF-8 or an unpaired surrogate escape)"
        + (count > 1 ? $"; {count - 1} more place(s) too" : "");

    /// <summary>The parser's complaint with its position ("... at line 1, byte 14").</summary>
    public static string Where(JsonException e) =>
        e.LineNumber is long line ? $"{e.Message.Split(" LineNumber")[0].TrimEnd(' ', '|')} (line {line + 1}, byte {e.BytePositionInLine ?? 0})" : e.Message;

    /// <summary>What <see cref="Inspect"/> found in a document.</summary>
    /// <param name="InvalidText">
    /// Every string value and key that is not valid Unicode, as a path (<c>field "ipam.ranges[0]"</c>,
    /// <c>a key of "ipam"</c>), in document order.
    /// </param>
    /// <param name="DuplicateKey">The first key an object gives twice (<c>"device" twice in the top-level
    /// object</c>), or null; a key that is not valid Unicode counts as U+FFFD, as <see cref="Repair"/> reads it.</param>
    public sealed record TextReport(List<string> InvalidText, string? DuplicateKey);

    /// <summary>
    /// Walks a well-formed JSON document for what its parser does not check for Fathom: text that is
    /// not valid Unicode and keys given twice. The caller has parsed the document already, or will
    /// (this stops quietly at a syntax error, which the parser reports).
    /// </summary>
    public static TextReport Inspect(ReadOnlySpan<byte> json)
    {
        var bad = new List<string>();
        string? duplicate = null;
        var reader = new Utf8JsonReader(json, new JsonReaderOptions { MaxDepth = Document.MaxDepth });
        // One entry per open container: its path, for an array the index of the next element, for an
        // object the keys it has given so far.
        var open = new List<(string Path, int NextIndex, HashSet<string>? Keys)>();
        string? key = null;
        try
        {
            while (reader.Read())
            {
                switch (reader.TokenType)
                {
                    case JsonTokenType.PropertyName:
                        key = TryGetString(ref reader);
                        if (key is null)
                        {
                            bad.Add(open.Count == 1 ? "a top-level key" : $"a key of \"{open[^1].Path}\"");
                            key = "\uFFFD";
                        }
                        if (!open[^1].Keys!.Add(key))
                            duplicate ??= $"\"{key}\" twice in " + (open.Count == 1 ? "the top-level object" : $"\"{open[^1].Path}\"");
                        continue;
                    case JsonTokenType.StartObject or JsonTokenType.StartArray:
                        var keys = reader.TokenType == JsonTokenType.StartObject ? new HashSet<string>(StringComparer.Ordinal) : null;
                        open.Add((open.Count == 0 ? "" : Member(open, key), 0, keys));
                        key = null;
                        continue;
                    case JsonTokenType.EndObject or JsonTokenType.EndArray:
                        open.RemoveAt(open.Count - 1);
                        break;
                    case JsonTokenType.String:
                        if (TryGetString(ref reader) is null) bad.Add($"field \"{Member(open, key)}\"");
                        break;
                }
                // A value ended: the next element of an enclosing array has the next index.
                if (open.Count > 0 && key is null) open[^1] = open[^1] with { NextIndex = open[^1].NextIndex + 1 };
                key = null;
            }
        }
        catch (JsonException)
        {
        }
        return new TextReport(bad, duplicate);
    }

    /// <summary>
    /// The document with every string and key that is not valid Unicode replaced by U+FFFD, the
    /// way Go's encoding/json (and so every reference plugin) reads it. Well-formed input only.
    /// </summary>
    public static byte[] Repair(ReadOnlySpan<byte> json)
    {
        var buffer = new ArrayBufferWriter<byte>(json.Length + 16);
        var reader = new Utf8JsonReader(json, new JsonReaderOptions { MaxDepth = Document.MaxDepth });
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = AsciiJsonEncoder.Relaxed, SkipValidation = true }))
        {
            while (reader.Read())
            {
                switch (reader.TokenType)
                {
                    case JsonTokenType.StartObject: w.WriteStartObject(); break;
                    case JsonTokenType.EndObject: w.WriteEndObject(); break;
                    case JsonTokenType.StartArray: w.WriteStartArray(); break;
                    case JsonTokenType.EndArray: w.WriteEndArray(); break;
                    case JsonTokenType.PropertyName: w.WritePropertyName(TryGetString(ref reader) ?? "\uFFFD"); break;
                    case JsonTokenType.String: w.WriteStringValue(TryGetString(ref reader) ?? "\uFFFD"); break;
                    case JsonTokenType.Number: w.WriteRawValue(reader.ValueSpan, skipInputValidation: true); break;
                    case JsonTokenType.True: w.WriteBooleanValue(true); break;
                    case JsonTokenType.False: w.WriteBooleanValue(false); break;
                    case JsonTokenType.Null: w.WriteNullValue(); break;
                }
            }
        }
        return buffer.WrittenSpan.ToArray();
    }

    private static string Member(List<(string Path, int NextIndex, HashSet<string>? Keys)> open, string? key)
    {
        if (open.Count == 0) return "(the whole document)"; // a string where an object should be
        var parent = open[^1].Path;
        if (key is null) return $"{parent}[{open[^1].NextIndex}]";
        return parent.Length == 0 ? key : $"{parent}.{key}";
    }

    private static string? TryGetString(ref Utf8JsonReader reader)
    {
        try
        {
            return reader.GetString();
        }
        catch (InvalidOperationException)
        {
            return null; // invalid UTF-8, or an escaped surrogate without its pair
        }
    }
}
