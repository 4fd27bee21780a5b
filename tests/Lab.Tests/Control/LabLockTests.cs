using Fathom.Lab.Control;

namespace Fathom.Lab.Tests.Control;

/// <summary>Two fathomctl runs changing one lab at once wait for each other.</summary>
public sealed class LabLockTests : IDisposable
{
    public void Dispose()
    {
        // Lock files stay by design; these two labs exist only here.
        foreach (var prefix in new[] { "ftlock", "ftlock2" })
            File.Delete(LabLock.PathOf(new LabLayout(prefix)));
    }

    [PrivilegedFact("ip")]
    public void Down_waits_while_another_up_or_down_of_the_same_lab_holds_the_lock()
    {
        Privileged.Require("ip");
        var layout = new LabLayout("ftlock");   // never up: down has nothing to remove
        Task<IReadOnlyList<string>> down;
        using (LabLock.Acquire(layout, TimeSpan.FromSeconds(5)))
        {
            down = Task.Run(() => LabControl.Down(layout));
            Assert.False(down.Wait(TimeSpan.FromMilliseconds(500)), "down ran while the lab was locked");
        }
        Assert.True(down.Wait(TimeSpan.FromSeconds(10)), "down did not run once the lock was released");
        Assert.Empty(down.Result);
    }

    [PrivilegedFact("ip")]
    public void A_lock_held_too_long_is_a_timeout_naming_the_lab()
    {
        Privileged.Require("ip");
        var layout = new LabLayout("ftlock2");
        using var held = LabLock.Acquire(layout, TimeSpan.FromSeconds(5));
        var e = Assert.Throws<TimeoutException>(() => LabLock.Acquire(layout, TimeSpan.FromMilliseconds(300)));
        Assert.Contains("ftlock2", e.Message);
    }
}
