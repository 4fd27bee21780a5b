using Fathom.Netlink;

namespace Fathom.Datapath.Underlay;

/// <summary>
/// A private, empty network namespace where a device can be renamed when one move with a name
/// cannot do it — returning it after a failed ADD, or DEL when the pod holds a device named
/// like the host device — so that it is never renamed where udev or a network manager watch
/// (the host) and never carries a name that collides (Terway's exclusive-ENI path; host-device
/// since v1.2). The common paths need none: see UnderlayDatapath.MoveIn.
/// The namespace is anonymous (<see cref="Netns.CreateAnonymous"/>): no name, no mount, only
/// this handle keeps it alive. So nothing is left behind even if the plugin is killed: the
/// kernel frees the namespace with the process, returning a physical NIC to the initial
/// namespace (net/core/dev.c default_device_exit) and destroying a veth.
/// </summary>
internal sealed class TransitNetns : IDisposable
{
    public NetnsHandle Handle { get; }
    public NetlinkHandle Netlink { get; }

    private TransitNetns(NetnsHandle handle, NetlinkHandle netlink) => (Handle, Netlink) = (handle, netlink);

    public static TransitNetns Create()
    {
        var handle = Netns.CreateAnonymous();
        try
        {
            return new TransitNetns(handle, NetlinkHandle.OpenIn(handle));
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        Netlink.Dispose();
        Handle.Dispose();
    }
}
