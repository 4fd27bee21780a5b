using System.Buffers.Binary;

namespace Fathom.Netlink;

/// <summary>
/// A reader of the kernel's BTF (BPF Type Format, Documentation/bpf/btf.rst), enough to call kfuncs
/// without libbpf: the id of a function (BTF_KIND_FUNC), which a kfunc call instruction carries in
/// its immediate (BPF_PSEUDO_KFUNC_CALL), and the byte offset of a struct's member, which a program
/// reading a kernel object the kfunc returns needs (what libbpf's CO-RE relocations compute).
/// </summary>
/// <remarks>
/// The blob is a header, a type section (each type a struct btf_type, 12 bytes, followed by its
/// kind's data) and a string section; type ids count the types from 1 (include/uapi/linux/btf.h).
/// A lookup walks the types once: the callers resolve a handful of names per process and cache them.
/// </remarks>
public sealed class Btf
{
    /// <summary>The running kernel's BTF (CONFIG_DEBUG_INFO_BTF).</summary>
    public const string KernelPath = "/sys/kernel/btf/vmlinux";

    private const ushort Magic = 0xeb9f;
    private const int HeaderMinimum = 24;

    // BTF_KIND_* (include/uapi/linux/btf.h).
    private const int KindInt = 1, KindArray = 3, KindStruct = 4, KindUnion = 5, KindEnum = 6, KindFunc = 12,
        KindFuncProto = 13, KindVar = 14, KindDatasec = 15, KindDeclTag = 17, KindEnum64 = 19;

    private readonly byte[] _blob;
    private readonly int _types, _typesEnd, _strings, _stringsEnd;

    private Btf(byte[] blob, int types, int typesEnd, int strings, int stringsEnd) =>
        (_blob, _types, _typesEnd, _strings, _stringsEnd) = (blob, types, typesEnd, strings, stringsEnd);

    /// <summary>Reads the running kernel's BTF from <see cref="KernelPath"/>.</summary>
    /// <exception cref="NetlinkException">EOPNOTSUPP when the kernel has no BTF (built without CONFIG_DEBUG_INFO_BTF) or it cannot be read; EINVAL when the file is not BTF.</exception>
    public static Btf LoadKernel()
    {
        byte[] blob;
        try
        {
            blob = File.ReadAllBytes(KernelPath);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new NetlinkException(Errno.EOPNOTSUPP, $"read {KernelPath}: the kernel has no BTF (CONFIG_DEBUG_INFO_BTF)");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new NetlinkException(Errno.EOPNOTSUPP, $"read {KernelPath}: {e.Message}");
        }
        return Parse(blob, KernelPath);
    }

    /// <summary>Checks the header of a BTF blob and returns a reader over it.</summary>
    /// <param name="blob">The blob; the reader keeps it.</param>
    /// <param name="source">Where it came from, for the error message.</param>
    /// <exception cref="NetlinkException">EINVAL when the blob is not little-endian BTF or its sections lie outside it.</exception>
    public static Btf Parse(byte[] blob, string source)
    {
        ArgumentNullException.ThrowIfNull(blob);
        if (blob.Length < HeaderMinimum || BinaryPrimitives.ReadUInt16LittleEndian(blob) != Magic)
            throw new NetlinkException(Errno.EINVAL, $"{source}: not BTF (no 0x{Magic:x4} magic)");
        var header = BinaryPrimitives.ReadUInt32LittleEndian(blob.AsSpan(4));
        long typeOff = BinaryPrimitives.ReadUInt32LittleEndian(blob.AsSpan(8)), typeLen = BinaryPrimitives.ReadUInt32LittleEndian(blob.AsSpan(12));
        long strOff = BinaryPrimitives.ReadUInt32LittleEndian(blob.AsSpan(16)), strLen = BinaryPrimitives.ReadUInt32LittleEndian(blob.AsSpan(20));
        if (header < HeaderMinimum || header + typeOff + typeLen > blob.Length || header + strOff + strLen > blob.Length)
            throw new NetlinkException(Errno.EINVAL, $"{source}: BTF sections lie outside its {blob.Length} bytes");
        return new Btf(blob, (int)(header + typeOff), (int)(header + typeOff + typeLen), (int)(header + strOff), (int)(header + strOff + strLen));
    }

    /// <summary>The type id of the function named <paramref name="name"/> (BTF_KIND_FUNC), or null when there is none.</summary>
    public int? FindFunction(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        int? found = null;
        Walk((id, kind, at) =>
        {
            if (kind != KindFunc || !NameIs(at, name)) return true;
            found = id;
            return false;
        });
        return found;
    }

    /// <summary>The size in bytes of the struct named <paramref name="structName"/>, or null when there is none.</summary>
    public int? FindStructSize(string structName)
    {
        ArgumentNullException.ThrowIfNull(structName);
        int? found = null;
        Walk((_, kind, at) =>
        {
            if (kind != KindStruct || !NameIs(at, structName)) return true;
            found = (int)BinaryPrimitives.ReadUInt32LittleEndian(_blob.AsSpan(at + 8));
            return false;
        });
        return found;
    }

    /// <summary>
    /// The byte offset of <paramref name="member"/> in the struct named <paramref name="structName"/>
    /// (its first definition: a kernel's BTF has one), or null when there is no such struct or member,
    /// or the member is a bitfield (no byte offset).
    /// </summary>
    public int? FindMemberOffset(string structName, string member)
    {
        ArgumentNullException.ThrowIfNull(structName);
        ArgumentNullException.ThrowIfNull(member);
        int? found = null;
        Walk((_, kind, at) =>
        {
            if (kind != KindStruct || !NameIs(at, structName)) return true;
            var info = BinaryPrimitives.ReadUInt32LittleEndian(_blob.AsSpan(at + 4));
            var bitfields = (info & 0x8000_0000) != 0; // kind_flag: the offset's top byte is the bitfield size
            for (var m = 0; m < (int)(info & 0xffff); m++)
            {
                var entry = at + 12 + m * 12; // struct btf_member { name_off, type, offset }
                if (!NameIs(entry, member)) continue;
                var offset = BinaryPrimitives.ReadUInt32LittleEndian(_blob.AsSpan(entry + 8));
                var bits = bitfields ? offset & 0xff_ffff : offset;
                if ((bitfields && offset >> 24 != 0) || bits % 8 != 0) return false;
                found = (int)(bits / 8);
                return false;
            }
            return false;
        });
        return found;
    }

    /// <summary>Calls <paramref name="visit"/> with each type's id, kind and offset until it returns false.</summary>
    private void Walk(Func<int, int, int, bool> visit)
    {
        var at = _types;
        for (var id = 1; at + 12 <= _typesEnd; id++)
        {
            var info = BinaryPrimitives.ReadUInt32LittleEndian(_blob.AsSpan(at + 4));
            var kind = (int)(info >> 24) & 0x1f;
            if (!visit(id, kind, at)) return;
            at += 12 + KindData(kind, (int)(info & 0xffff));
        }
    }

    /// <summary>The bytes that follow a type's struct btf_type, by kind (btf.rst, "Type Encoding").</summary>
    private static int KindData(int kind, int vlen) => kind switch
    {
        KindInt or KindVar or KindDeclTag => 4,
        KindArray => 12,
        KindStruct or KindUnion or KindDatasec or KindEnum64 => vlen * 12,
        KindEnum or KindFuncProto => vlen * 8,
        _ => 0, // PTR, FWD, TYPEDEF, VOLATILE, CONST, RESTRICT, FUNC, FLOAT, TYPE_TAG
    };

    /// <summary>Whether the name_off at <paramref name="at"/> names <paramref name="name"/> (ASCII, NUL-terminated).</summary>
    private bool NameIs(int at, string name)
    {
        var offset = _strings + (int)BinaryPrimitives.ReadUInt32LittleEndian(_blob.AsSpan(at));
        if (offset + name.Length >= _stringsEnd || _blob[offset + name.Length] != 0) return false;
        for (var i = 0; i < name.Length; i++)
            if (_blob[offset + i] != name[i]) return false;
        return true;
    }
}
