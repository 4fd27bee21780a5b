using System.Buffers;
using System.Text.Encodings.Web;

namespace Fathom.Json;

/// <summary>
/// A <see cref="JavaScriptEncoder"/> that writes exactly what <see cref="JavaScriptEncoder.Default"/>
/// (<see cref="Strict"/>) or <see cref="JavaScriptEncoder.UnsafeRelaxedJsonEscaping"/>
/// (<see cref="Relaxed"/>) writes, without building either until a string needs escaping. Those
/// two are built together, in one static constructor, and the relaxed one marks every one of the
/// 65 536 UTF-16 code units it allows, one by one: perf put that constructor at 3.6 % of a shared
/// ADD's plugin CPU (docs/benchmarks.md, "Where the plugin's CPU went"), for JSON whose strings —
/// container ids, interface names, paths, addresses — never need escaping. Here plain ASCII passes
/// unexamined by them; from the first character that may need escaping on, the real encoder takes
/// the rest of the string, so the output is theirs byte for byte (a test pins it on fuzzed text).
/// </summary>
/// <remarks>
/// Compiled into Fathom.Cni (the CNI result, the attachment records) and Fathom.Agent.Protocol
/// (the plugin's requests), which share no assembly: a linked source file (src/Shared), internal to each.
/// </remarks>
internal sealed class AsciiJsonEncoder : JavaScriptEncoder
{
    /// <summary>Byte for byte <see cref="JavaScriptEncoder.Default"/>.</summary>
    public static readonly AsciiJsonEncoder Strict = new(relaxed: false);

    /// <summary>Byte for byte <see cref="JavaScriptEncoder.UnsafeRelaxedJsonEscaping"/>.</summary>
    public static readonly AsciiJsonEncoder Relaxed = new(relaxed: true);

    private readonly bool _relaxed;

    private AsciiJsonEncoder(bool relaxed) => _relaxed = relaxed;

    // Built on first use only: the static constructor this class exists to avoid.
    private JavaScriptEncoder Inner => _relaxed ? UnsafeRelaxedJsonEscaping : Default;

    /// <summary>
    /// True for a character both encoders leave as it is: printable ASCII but the quote and the
    /// backslash, and for <see cref="Strict"/> not the HTML-sensitive &amp; ' &lt; &gt; + ` either.
    /// (Anything else may or may not be escaped: the real encoder decides.)
    /// </summary>
    private bool Passes(int c) =>
        c is >= 0x20 and < 0x7F && c != '"' && c != '\\'
        && (_relaxed || c is not ('&' or '\'' or '<' or '>' or '+' or '`'));

    /// <inheritdoc/>
    public override int MaxOutputCharactersPerInputCharacter => 6; // \uXXXX, as both real encoders

    /// <inheritdoc/>
    public override unsafe int FindFirstCharacterToEncode(char* text, int textLength)
    {
        for (var i = 0; i < textLength; i++)
            if (!Passes(text[i]))
                return i;
        return -1;
    }

    /// <inheritdoc/>
    public override int FindFirstCharacterToEncodeUtf8(ReadOnlySpan<byte> utf8Text)
    {
        for (var i = 0; i < utf8Text.Length; i++)
            if (!Passes(utf8Text[i]))
                return i;
        return -1;
    }

    /// <inheritdoc/>
    public override OperationStatus Encode(ReadOnlySpan<char> source, Span<char> destination, out int charsConsumed, out int charsWritten, bool isFinalBlock = true) =>
        Inner.Encode(source, destination, out charsConsumed, out charsWritten, isFinalBlock);

    /// <inheritdoc/>
    public override OperationStatus EncodeUtf8(ReadOnlySpan<byte> utf8Source, Span<byte> utf8Destination, out int bytesConsumed, out int bytesWritten, bool isFinalBlock = true) =>
        Inner.EncodeUtf8(utf8Source, utf8Destination, out bytesConsumed, out bytesWritten, isFinalBlock);

    /// <inheritdoc/>
    public override string Encode(string value) => FindFirstCharacterToEncodeOf(value) < 0 ? value : Inner.Encode(value);

    /// <inheritdoc/>
    public override void Encode(TextWriter output, string value, int startIndex, int characterCount) =>
        Inner.Encode(output, value, startIndex, characterCount);

    /// <inheritdoc/>
    public override void Encode(TextWriter output, char[] value, int startIndex, int characterCount) =>
        Inner.Encode(output, value, startIndex, characterCount);

    /// <inheritdoc/>
    public override unsafe bool TryEncodeUnicodeScalar(int unicodeScalar, char* buffer, int bufferLength, out int numberOfCharactersWritten) =>
        Inner.TryEncodeUnicodeScalar(unicodeScalar, buffer, bufferLength, out numberOfCharactersWritten);

    /// <inheritdoc/>
    public override bool WillEncode(int unicodeScalar) => !Passes(unicodeScalar) && Inner.WillEncode(unicodeScalar);

    private unsafe int FindFirstCharacterToEncodeOf(string value)
    {
        fixed (char* text = value)
            return FindFirstCharacterToEncode(text, value.Length);
    }
}
