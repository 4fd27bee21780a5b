namespace Fathom.Cni.Tests;

/// <summary>The plugin's own environment, read by name where it is and copied only when enumerated.</summary>
public sealed class ProcessEnvironmentTests
{
    [Fact]
    public void A_variable_is_read_by_name_and_the_whole_environment_when_enumerated()
    {
        const string Name = "FATHOM_TEST_PROCESS_ENVIRONMENT";
        Environment.SetEnvironmentVariable(Name, "a=b;c");
        try
        {
            var env = new ProcessEnvironment();
            Assert.True(env.TryGetValue(Name, out var value));
            Assert.Equal("a=b;c", value);
            Assert.Equal("a=b;c", env[Name]);
            Assert.False(env.ContainsKey(Name + "_UNSET"));
            Assert.Throws<KeyNotFoundException>(() => env[Name + "_UNSET"]);

            var all = env.ToDictionary(kv => kv.Key, kv => kv.Value);
            Assert.Equal(Environment.GetEnvironmentVariables().Count, all.Count);
            Assert.Equal(all.Count, env.Count);
            Assert.Equal("a=b;c", all[Name]);
            // Once copied, lookups answer from the copy, as they did from the process.
            Assert.True(env.TryGetValue(Name, out value));
            Assert.Equal("a=b;c", value);
            Assert.False(env.TryGetValue(Name + "_UNSET", out _));
        }
        finally
        {
            Environment.SetEnvironmentVariable(Name, null);
        }
    }

    [Fact]
    public void The_process_invocation_reads_its_own_environment()
    {
        var invocation = CniInvocation.FromProcess();
        Assert.IsType<ProcessEnvironment>(invocation.Environment);
        Assert.Equal(Environment.GetEnvironmentVariable("PATH"), invocation.Get("PATH"));
    }
}
