using Fathom.Agent.State;

namespace Fathom.Agent.Tests.State;

/// <summary>The one way every state file is written: whole, owner-only, by rename, with the system's own calls.</summary>
public sealed class StateDirectoryTests : IDisposable
{
    private readonly StateFixture _fx = new();

    public void Dispose() => _fx.Dispose();

    [Fact]
    public void A_write_replaces_the_file_whole_owner_only_and_leaves_no_temporary()
    {
        var file = _fx.Path("thing.json");
        _fx.State.WriteAtomically(file, "{\"v\":1}"u8);
        _fx.State.WriteAtomically(file, "{\"v\":2}"u8);
        Assert.Equal("{\"v\":2}", File.ReadAllText(file));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(file));
        Assert.Empty(Directory.GetFiles(_fx.StatePath, "*.tmp"));
    }

    [Fact]
    public void A_temporary_a_failed_write_left_is_replaced_not_appended_to()
    {
        var file = _fx.Path("thing.json");
        _fx.State.CrashPoint = step => { if (step == "rename") throw new SimulatedCrash(step); };
        Assert.Throws<SimulatedCrash>(() => _fx.State.WriteAtomically(file, "{\"v\":\"lost, and longer than the next\"}"u8));
        Assert.True(File.Exists(file + ".tmp"));
        Assert.False(File.Exists(file));

        _fx.State.CrashPoint = null;
        _fx.State.WriteAtomically(file, "{\"v\":3}"u8);
        Assert.Equal("{\"v\":3}", File.ReadAllText(file));
        Assert.False(File.Exists(file + ".tmp"));
    }

    [Fact]
    public void A_large_content_is_written_whole()
    {
        var content = new byte[3 << 20];
        Random.Shared.NextBytes(content);
        var file = _fx.Path("large.bin");
        _fx.State.WriteAtomically(file, content);
        Assert.Equal(content, File.ReadAllBytes(file));
    }

    [Fact]
    public void A_write_that_fails_names_the_file_and_the_systems_reason()
    {
        var folder = _fx.State.Subdirectory("gone");
        Directory.Delete(folder);
        var error = Assert.Throws<IOException>(() => _fx.State.WriteAtomically(Path.Combine(folder, "x.json"), "{}"u8));
        Assert.Equal($"create of {Path.Combine(folder, "x.json.tmp")} failed: No such file or directory", error.Message);
    }
}
