namespace Fathom.Lab.Tests;

public sealed class SmokeTests
{
    [Fact]
    public void Builds() => Assert.True(true);
}
