using Fathom.Agent.State;

namespace Fathom.Agent.Tests.State;

public sealed class IpCooldownTests : IDisposable
{
    private readonly StateFixture _fx = new();

    public void Dispose() => _fx.Dispose();

    [Fact]
    public void A_freed_IP_cools_down_for_thirty_seconds_by_default()
    {
        var cooldown = IpCooldown.Open(_fx.State);
        Assert.Equal(TimeSpan.FromSeconds(30), cooldown.Period);
        Assert.False(cooldown.IsCooling("10.0.1.9"));
        cooldown.Start("10.0.1.9", "eni-a");
        Assert.True(cooldown.IsCooling("10.0.1.9"));
        _fx.Time.Advance(TimeSpan.FromSeconds(29.9));
        Assert.True(cooldown.IsCooling("10.0.1.9"));
        Assert.Equal(TimeSpan.FromSeconds(0.1), cooldown.Remaining("10.0.1.9"));
        _fx.Time.Advance(TimeSpan.FromSeconds(0.1));
        Assert.False(cooldown.IsCooling("10.0.1.9"));
        Assert.Empty(cooldown.Cooling());
    }

    [Fact]
    public void Cooldowns_survive_a_restart_with_their_deadlines()
    {
        IpCooldown.Open(_fx.State, TimeSpan.FromSeconds(10)).Start("10.0.1.9", "eni-a");
        _fx.Time.Advance(TimeSpan.FromSeconds(4));
        var cooldown = IpCooldown.Open(_fx.Restart(), TimeSpan.FromSeconds(10));
        Assert.Equal(TimeSpan.FromSeconds(6), cooldown.Remaining("10.0.1.9"));
        Assert.Equal("eni-a", cooldown.Cooling().Single().EniId);
        _fx.Time.Advance(TimeSpan.FromSeconds(6));
        Assert.False(IpCooldown.Open(_fx.Restart(), TimeSpan.FromSeconds(10)).IsCooling("10.0.1.9"));
    }

    [Fact]
    public void Freeing_again_restarts_the_cooldown_and_sweeping_forgets_expired_ones()
    {
        var cooldown = IpCooldown.Open(_fx.State);
        cooldown.Start("10.0.1.9", "eni-a");
        cooldown.Start("10.0.1.10", "eni-a");
        _fx.Time.Advance(TimeSpan.FromSeconds(20));
        cooldown.Start("10.0.1.9", "eni-a");
        _fx.Time.Advance(TimeSpan.FromSeconds(15));
        Assert.True(cooldown.IsCooling("10.0.1.9"));
        Assert.False(cooldown.IsCooling("10.0.1.10"));
        cooldown.Sweep();
        Assert.DoesNotContain("10.0.1.10", File.ReadAllText(OnlyCooldownFile()), StringComparison.Ordinal);
        Assert.Contains("10.0.1.9", File.ReadAllText(OnlyCooldownFile()), StringComparison.Ordinal);
    }

    [Fact]
    public void A_zero_cooldown_writes_no_file_and_keeps_a_deadline_a_longer_period_left()
    {
        IpCooldown.Open(_fx.State, TimeSpan.FromSeconds(30)).Start("10.0.1.9", "eni-a");
        var written = OnlyCooldownFile();
        var before = File.ReadAllBytes(written);
        var cooldown = IpCooldown.Open(_fx.Restart(), TimeSpan.Zero);
        cooldown.Start("10.0.1.10", "eni-a");
        cooldown.Start("10.0.1.9", "eni-a");
        Assert.False(cooldown.IsCooling("10.0.1.10"));
        Assert.True(cooldown.IsCooling("10.0.1.9"));
        Assert.Equal(written, OnlyCooldownFile());
        Assert.Equal(before, File.ReadAllBytes(written));
        Assert.Empty(Directory.GetFiles(_fx.StatePath, "*.tmp"));
    }

    [Theory]
    [InlineData("{\"kind\":\"fathom-agent-cooldown\",\"version\":1,\"ips\":[{\"ip\":\"10.0.")]
    [InlineData("{\"kind\":\"fathom-agent-cooldown\",\"version\":2,\"ips\":[]}")]
    [InlineData("\u0000\u0000\u0000")]
    public void An_unreadable_cooldown_file_is_quarantined_and_every_IP_cools_for_one_period(string content)
    {
        Directory.CreateDirectory(_fx.StatePath);
        File.WriteAllText(_fx.Path("cooldown.json"), content);
        var cooldown = IpCooldown.Open(_fx.State);
        Assert.Single(_fx.Events("state.quarantined"));
        Assert.Single(_fx.Events("cooldown.lost"));
        Assert.True(cooldown.IsCooling("10.9.9.9"));
        _fx.Time.Advance(TimeSpan.FromSeconds(30));
        Assert.False(cooldown.IsCooling("10.9.9.9"));
        Assert.False(File.Exists(_fx.Path("cooldown.json")));
    }

    [Fact]
    public void A_crash_before_the_rename_keeps_the_previous_cooldowns()
    {
        var cooldown = IpCooldown.Open(_fx.State);
        cooldown.Start("10.0.1.9", "eni-a");
        _fx.State.CrashPoint = s => { if (s == "rename") throw new SimulatedCrash(s); };
        Assert.Throws<SimulatedCrash>(() => cooldown.Start("10.0.1.10", "eni-a"));
        cooldown = IpCooldown.Open(_fx.Restart());
        Assert.True(cooldown.IsCooling("10.0.1.9"));
        Assert.False(cooldown.IsCooling("10.0.1.10")); // its release had not happened either: cooldown is recorded first
        Assert.Empty(Directory.GetFiles(_fx.StatePath, "*.tmp"));
    }

    [Fact]
    public void Each_change_is_a_new_generation_and_the_previous_file_is_unlinked()
    {
        var cooldown = IpCooldown.Open(_fx.State);
        cooldown.Start("10.0.1.9", "eni-a");
        Assert.Equal(_fx.Path("cooldown.0000000000000000001.json"), OnlyCooldownFile());
        cooldown.Start("10.0.1.10", "eni-a");
        Assert.Equal(_fx.Path("cooldown.0000000000000000002.json"), OnlyCooldownFile());
        cooldown = IpCooldown.Open(_fx.Restart());
        cooldown.Start("10.0.1.11", "eni-a");
        Assert.Equal(_fx.Path("cooldown.0000000000000000003.json"), OnlyCooldownFile());
        Assert.Equal(3, cooldown.Cooling().Count);
    }

    [Fact]
    public void A_crash_before_the_previous_generation_is_unlinked_keeps_the_newest()
    {
        var cooldown = IpCooldown.Open(_fx.State);
        cooldown.Start("10.0.1.9", "eni-a");
        _fx.Time.Advance(TimeSpan.FromSeconds(31));
        _fx.State.CrashPoint = s => { if (s == "delete") throw new SimulatedCrash(s); };
        Assert.Throws<SimulatedCrash>(() => cooldown.Start("10.0.1.10", "eni-a")); // 10.0.1.9 expired: pruned from the new generation
        Assert.Equal(2, Directory.GetFiles(_fx.StatePath, "cooldown*.json").Length);
        cooldown = IpCooldown.Open(_fx.Restart());
        Assert.True(cooldown.IsCooling("10.0.1.10"));
        Assert.False(cooldown.IsCooling("10.0.1.9"));
        Assert.Equal(_fx.Path("cooldown.0000000000000000002.json"), OnlyCooldownFile());
    }

    [Fact]
    public void An_older_agents_cooldown_json_is_read_and_superseded_by_the_next_change()
    {
        IpCooldown.Open(_fx.State).Start("10.0.1.9", "eni-a");
        File.Move(OnlyCooldownFile(), _fx.Path("cooldown.json"));
        var cooldown = IpCooldown.Open(_fx.Restart());
        Assert.True(cooldown.IsCooling("10.0.1.9"));
        cooldown.Start("10.0.1.10", "eni-a");
        Assert.Equal(_fx.Path("cooldown.0000000000000000001.json"), OnlyCooldownFile());
        Assert.Equal(2, IpCooldown.Open(_fx.Restart()).Cooling().Count);
    }

    private string OnlyCooldownFile() => Assert.Single(Directory.GetFiles(_fx.StatePath, "cooldown*.json"));
}
