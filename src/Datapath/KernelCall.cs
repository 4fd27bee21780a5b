using Fathom.Cni;
using Fathom.Netlink;

namespace Fathom.Datapath;

/// <summary>
/// One kernel operation of a datapath, named: a refusal becomes CNI error 104 whose message says
/// what was being done ("failed to move eth10 into the pod's netns as eth0: ...") and whose
/// details carry the kernel's extended-ack text. Each one that succeeds is a step of the
/// operator log's timing (<see cref="CniSteps"/>), under the same name.
/// </summary>
public static class KernelCall
{
    /// <summary>Runs <paramref name="operation"/>; a <see cref="NetlinkException"/> becomes 104 naming <paramref name="what"/>.</summary>
    public static T Run<T>(string what, Func<T> operation)
    {
        try
        {
            var done = operation();
            CniSteps.Mark(what);
            return done;
        }
        catch (NetlinkException e)
        {
            throw new CniException(CniErrorCode.DatapathFailure, $"failed to {what}: {e.Message}", e.KernelMessage, e);
        }
    }

    /// <summary>Runs <paramref name="operation"/>; a <see cref="NetlinkException"/> becomes 104 naming <paramref name="what"/>.</summary>
    public static void Run(string what, Action operation) => Run(what, () =>
    {
        operation();
        return 0;
    });
}
