using Fathom.Lab;
using Fathom.Lab.Control;

namespace Fathom.Ctl;

/// <summary>
/// <c>fathomctl lab pod add NAME --node N [--device ethK] [--dhcp]</c> and <c>lab pod del NAME</c>:
/// the seed article's manual underlay pod, for demos and run.sh; <c>lab pod record NAME --node N
/// --mode M [--netns NS] [--ip IP]...</c> lists a pod someone else made (the CNI plugin) in <c>lab status</c>.
/// </summary>
internal static class LabPodCommands
{
    public static int Run(string[] args)
    {
        var verb = args.FirstOrDefault() ?? throw new UsageException("expected 'pod add', 'pod del' or 'pod record'");
        var rest = new CommandArgs(args[1..]);
        var layout = LabLayout.FromEnvironment();
        switch (verb)
        {
            case "add":
            {
                var name = rest.Positional.FirstOrDefault() ?? throw new UsageException("pod add NAME --node N [--device ethK] [--dhcp]");
                var node = rest.Value("--node") ?? throw new UsageException("--node is required");
                var device = rest.Value("--device");
                var dhcp = rest.Flag("--dhcp");
                rest.EnsureConsumed();
                LabCommands.RequireUp(layout);
                var pod = PodNetworking.Add(layout, name, node, device, dhcp);
                Console.WriteLine($"pod {pod.Name}: netns {pod.Netns}, eth0 {pod.Mac} {string.Join(',', pod.Ips)}");
                return 0;
            }
            case "record":
            {
                var name = rest.Positional.FirstOrDefault() ?? throw new UsageException("pod record NAME --node N --mode M [--netns NS] [--ip IP]...");
                var node = rest.Value("--node") ?? throw new UsageException("--node is required");
                var netns = rest.Value("--netns") ?? layout.PodNetns(name);
                var mode = rest.Value("--mode") ?? throw new UsageException("--mode is required (underlay, shared, host-gw, overlay, ...)");
                var ips = rest.Values("--ip");
                rest.EnsureConsumed();
                PodNetworking.Record(layout, new LabPod(name, netns, node, mode, ips));
                return 0;
            }
            case "del":
            {
                var name = rest.Positional.FirstOrDefault() ?? throw new UsageException("pod del NAME");
                rest.EnsureConsumed();
                Console.WriteLine(PodNetworking.Delete(layout, name) ? $"pod {name} deleted" : $"pod {name} did not exist");
                return 0;
            }
            default:
                throw new UsageException($"unknown pod verb '{verb}'");
        }
    }
}
