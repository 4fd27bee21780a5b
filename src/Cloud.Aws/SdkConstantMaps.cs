using System.Runtime.CompilerServices;
using Amazon.EC2;
using Amazon.Runtime;

namespace Fathom.Cloud.Aws;

/// <summary>
/// Spares the agent's start the SDK's map of every EC2 instance type. AWSSDK's
/// <see cref="ConstantClass"/> builds, on the first value of a constant type read from a response,
/// a map of every static field of that type, by reflection. <see cref="InstanceType"/> has about
/// nine hundred, and on Native AOT each reflected field read searches the image's field access map:
/// perf put 46 ms of CPU — 53 % of an agent's start — in the one DescribeInstanceTypes answer the
/// agent reads at start (docs/agent.md, "How it is built"). With an empty map seeded for the type,
/// <c>FindValue</c> takes the path it has for a value it does not know: it constructs the one value
/// it read (<c>new InstanceType("m5.large")</c>), equal by value to the field it would have found.
/// </summary>
/// <remarks>
/// The map is the SDK's private <c>ConstantClass.staticFields</c> (copied and swapped whole, as the
/// SDK itself adds a type): a later SDK without it changes nothing but the speed — the seed is
/// skipped and the SDK builds its map as before.
/// </remarks>
internal static class SdkConstantMaps
{
    private static int _seeded;

    /// <summary>Seeds an empty value map for <see cref="InstanceType"/> once per process; true when it is in place.</summary>
    public static bool SeedInstanceTypes()
    {
        if (Interlocked.Exchange(ref _seeded, 1) != 0)
            return Seeded();
        try
        {
            ref var maps = ref StaticFields(null);
            if (maps.ContainsKey(typeof(InstanceType)))
                return true;
            maps = new Dictionary<Type, Dictionary<string, ConstantClass>>(maps)
            {
                [typeof(InstanceType)] = new(StringComparer.OrdinalIgnoreCase),
            };
            return true;
        }
        catch (Exception e) when (e is MissingFieldException or MissingMemberException)
        {
            return false;
        }
    }

    private static bool Seeded()
    {
        try
        {
            return StaticFields(null).ContainsKey(typeof(InstanceType));
        }
        catch (Exception e) when (e is MissingFieldException or MissingMemberException)
        {
            return false;
        }
    }

    [UnsafeAccessor(UnsafeAccessorKind.StaticField, Name = "staticFields")]
    private static extern ref Dictionary<Type, Dictionary<string, ConstantClass>> StaticFields(ConstantClass? owner);
}
