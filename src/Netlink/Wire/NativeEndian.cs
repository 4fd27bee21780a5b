using System.Buffers.Binary;

namespace Fathom.Netlink.Wire;

/// <summary>
/// Netlink headers and most attributes are in host byte order (netlink(7)); these wrap
/// <see cref="BinaryPrimitives"/> so the branch folds away at JIT/AOT time.
/// </summary>
internal static class NativeEndian
{
    public static void WriteUInt16(Span<byte> destination, ushort value)
    {
        if (BitConverter.IsLittleEndian) BinaryPrimitives.WriteUInt16LittleEndian(destination, value);
        else BinaryPrimitives.WriteUInt16BigEndian(destination, value);
    }

    public static void WriteUInt32(Span<byte> destination, uint value)
    {
        if (BitConverter.IsLittleEndian) BinaryPrimitives.WriteUInt32LittleEndian(destination, value);
        else BinaryPrimitives.WriteUInt32BigEndian(destination, value);
    }

    public static void WriteInt32(Span<byte> destination, int value) => WriteUInt32(destination, (uint)value);

    public static ushort ReadUInt16(ReadOnlySpan<byte> source) =>
        BitConverter.IsLittleEndian ? BinaryPrimitives.ReadUInt16LittleEndian(source) : BinaryPrimitives.ReadUInt16BigEndian(source);

    public static uint ReadUInt32(ReadOnlySpan<byte> source) =>
        BitConverter.IsLittleEndian ? BinaryPrimitives.ReadUInt32LittleEndian(source) : BinaryPrimitives.ReadUInt32BigEndian(source);

    public static int ReadInt32(ReadOnlySpan<byte> source) => (int)ReadUInt32(source);
}
