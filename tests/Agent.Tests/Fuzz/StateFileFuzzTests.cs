using CsCheck;
using Fathom.Agent.State;
using Fathom.Agent.Teardown;

namespace Fathom.Agent.Tests.Fuzz;

/// <summary>
/// Whatever a state file holds after a failing disk or a careless edit — random bytes, a valid file
/// cut short or with bytes flipped — the agent still starts: the file is loaded or quarantined with a
/// log line, never a crash, never dropped silently.
/// </summary>
public sealed class StateFileFuzzTests : IDisposable
{
    private readonly StateFixture _fx = new();

    public void Dispose() => _fx.Dispose();

    private static Gen<byte[]> Damaged(byte[] valid) => Gen.OneOf(
        Gen.Byte.Array[0, 300],
        Gen.Int[0, valid.Length].Select(n => valid[..n]),
        Gen.Select(Gen.Int[0, valid.Length - 1], Gen.Byte).Array[1, 4].Select(flips =>
        {
            var copy = (byte[])valid.Clone();
            foreach (var (at, value) in flips)
                copy[at] = value;
            return copy;
        }));

    private void Fuzz(string subdirectory, string fileName, byte[] valid, Func<StateDirectory, int> open)
    {
        var dir = subdirectory.Length == 0 ? _fx.StatePath : _fx.Path(subdirectory);
        Damaged(valid).Sample(bytes =>
        {
            var state = _fx.Restart();
            foreach (var file in Directory.GetFiles(dir, "*.json"))
                File.Delete(file);
            File.WriteAllBytes(Path.Combine(dir, fileName), bytes);
            var quarantinedBefore = _fx.Events("state.quarantined").Count;
            var loaded = open(_fx.Restart());
            var quarantined = _fx.Events("state.quarantined").Count - quarantinedBefore;
            Assert.True(loaded + quarantined == 1, $"loaded {loaded}, quarantined {quarantined}: a file was dropped silently or counted twice");
            Assert.Equal(loaded, File.Exists(Path.Combine(dir, fileName)) ? 1 : 0);
        }, iter: 150, threads: 1);
    }

    [Fact]
    public void Allocation_files()
    {
        var store = AllocationStore.Open(_fx.State);
        store.Reserve(new AttachmentKey("net", "c1", "eth0"), StateFixture.Underlay("eni-1", "10.0.2.7"));
        var file = Directory.GetFiles(_fx.Path("allocations")).Single();
        Fuzz("allocations", Path.GetFileName(file), File.ReadAllBytes(file), state => AllocationStore.Open(state).Count);
    }

    [Fact]
    public async Task Teardown_job_files()
    {
        await using (var queue = TeardownQueue.Open(_fx.State, (_, _) => Task.CompletedTask))
            queue.Enqueue(new TeardownJob { Action = TeardownAction.ReturnEni, Device = "eth2", EniId = "eni-1", NetnsPath = "/p" });
        var file = Directory.GetFiles(_fx.Path("teardown")).Single();
        Fuzz("teardown", Path.GetFileName(file), File.ReadAllBytes(file), state =>
        {
            var queue = TeardownQueue.Open(state, (_, _) => Task.CompletedTask);
            return queue.Pending().Count; // not started: nothing runs, nothing is disposed
        });
    }

    [Fact]
    public void The_cooldown_file()
    {
        IpCooldown.Open(_fx.State).Start("10.0.1.9", "eni-1");
        var written = Directory.GetFiles(_fx.StatePath, "cooldown*.json").Single();
        Fuzz("", Path.GetFileName(written), File.ReadAllBytes(written), state =>
        {
            IpCooldown.Open(state);
            return File.Exists(written) ? 1 : 0;
        });
    }
}
