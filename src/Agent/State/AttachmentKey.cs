using System.Text;

namespace Fathom.Agent.State;

/// <summary>What CNI identifies an attachment by: network, container and interface name.</summary>
/// <param name="Network">The network config's <c>name</c>.</param>
/// <param name="ContainerId">CNI_CONTAINERID.</param>
/// <param name="IfName">CNI_IFNAME.</param>
public readonly record struct AttachmentKey(string Network, string ContainerId, string IfName)
{
    /// <summary><c>network/container/ifname</c>, for logs.</summary>
    public override string ToString() => $"{Network}/{ContainerId}/{IfName}";

    /// <summary>
    /// A file name unique to the key: each part with every byte outside <c>[A-Za-z0-9_.-]</c>
    /// written as <c>%XX</c>, joined with <c>~</c> (itself escaped inside a part), so no key can
    /// name a path outside its folder or collide with another key.
    /// </summary>
    internal string FileName => $"{Escape(Network)}~{Escape(ContainerId)}~{Escape(IfName)}.json";

    private static string Escape(string part)
    {
        var text = new StringBuilder(part.Length);
        foreach (var b in Encoding.UTF8.GetBytes(part))
        {
            if (char.IsAsciiLetterOrDigit((char)b) || b is (byte)'_' or (byte)'-' || (b == (byte)'.' && text.Length > 0))
                text.Append((char)b);
            else
                text.Append('%').Append(b.ToString("X2", System.Globalization.CultureInfo.InvariantCulture));
        }
        return text.ToString();
    }
}
