using System.Buffers;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using Fathom.Json;

namespace Fathom.Agent.Protocol.Tests.Messages;

/// <summary>
/// src/Shared/AsciiJsonEncoder.cs (compiled into this assembly and into Fathom.Cni): whatever the
/// text, a writer with it writes the bytes the BCL encoder it stands for writes.
/// </summary>
public sealed class AsciiJsonEncoderTests
{
    // Plain ASCII, every character either encoder may escape, non-ASCII, a surrogate pair, and a lone
    // surrogate (which both write as \uFFFD or refuse alike).
    private const string Pool = "abcXYZ019 -_./:@=%$#!?[]{}\"\\&'<>+`\t\n\r\b\f\u0000\u001f\u007f\u0080\u00e9\u00ff\u2028\u2029\u4e2d\ufeff\uffff";
    private static readonly string[] Pairs = ["\ud83d\ude00", "\ud800", "\udfff"];

    public static TheoryData<string> Named() =>
    [
        "", "eth0", "/var/run/netns/cni-1234", "c0ffee", "a\"b", "a\\b", "<script>", "x+y", "`'", "\u00e9t\u00e9", "\ud83d\ude00", "tab\there",
    ];

    [Theory]
    [MemberData(nameof(Named))]
    public void A_named_string_is_written_as_the_real_encoders_write_it(string text) => AssertSame(text);

    [Fact]
    public void Random_text_is_written_as_the_real_encoders_write_it()
    {
        var random = new Random(20261206);
        for (var i = 0; i < 5000; i++)
        {
            var text = new StringBuilder();
            for (var n = random.Next(0, 24); n > 0; n--)
                text.Append(random.Next(8) == 0 ? Pairs[random.Next(Pairs.Length)] : Pool[random.Next(Pool.Length)].ToString());
            AssertSame(text.ToString());
        }
    }

    private static void AssertSame(string text)
    {
        Assert.Equal(Write(JavaScriptEncoder.Default, text), Write(AsciiJsonEncoder.Strict, text));
        Assert.Equal(Write(JavaScriptEncoder.UnsafeRelaxedJsonEscaping, text), Write(AsciiJsonEncoder.Relaxed, text));
        Assert.Equal(JavaScriptEncoder.Default.Encode(text), AsciiJsonEncoder.Strict.Encode(text));
        Assert.Equal(JavaScriptEncoder.UnsafeRelaxedJsonEscaping.Encode(text), AsciiJsonEncoder.Relaxed.Encode(text));
    }

    // A property name and a value, each from a string and from UTF-8: the writer's four escaping paths.
    private static string Write(JavaScriptEncoder encoder, string text)
    {
        var buffer = new ArrayBufferWriter<byte>();
        try
        {
            using var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = encoder });
            w.WriteStartObject();
            w.WriteString(text, text);
            var utf8 = Encoding.UTF8.GetBytes(text);
            w.WriteString(utf8, utf8);
            w.WriteEndObject();
            w.Flush();
            return Encoding.UTF8.GetString(buffer.WrittenSpan);
        }
        catch (ArgumentException e)
        {
            return "refused: " + e.GetType().Name;
        }
    }
}
