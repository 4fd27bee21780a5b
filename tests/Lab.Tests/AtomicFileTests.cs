using System.Text;

namespace Fathom.Lab.Tests;

public sealed class AtomicFileTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory(TestNetns.Prefix + "atomic-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Concurrent_writers_in_one_process_each_replace_the_file_whole()
    {
        // As two pods' ADDs on one node both write its conflist: a temp name of the pid alone was
        // shared, so one writer's rename took the other's half-written file or found none.
        var path = Path.Combine(_dir, "10-fathom-shared.conflist");
        var contents = Enumerable.Range(0, 8).Select(w => new string((char)('a' + w), 4096)).ToArray();
        Parallel.For(0, contents.Length, new ParallelOptions { MaxDegreeOfParallelism = contents.Length }, w =>
        {
            for (var i = 0; i < 100; i++) AtomicFile.Write(path, Encoding.ASCII.GetBytes(contents[w]));
        });
        Assert.Contains(File.ReadAllText(path), contents);
        Assert.Equal([path], Directory.GetFiles(_dir));
    }

    [Fact]
    public void A_failed_replace_leaves_no_temp_file()
    {
        var path = Path.Combine(_dir, "a-directory");
        Directory.CreateDirectory(path);
        Assert.ThrowsAny<IOException>(() => AtomicFile.Write(path, "{}"u8));
        Assert.Empty(Directory.GetFiles(_dir));
    }
}
