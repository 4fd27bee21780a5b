using System.Formats.Tar;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;

namespace Fathom.Lab.Cri;

/// <summary>
/// The sandbox ("pause") image of the lab's containerd, built on this machine: the lab has no
/// registry. An OCI image layout (image-spec, image-layout.md) in a tar, for
/// <c>ctr -n k8s.io images import</c>: one layer holding busybox-static as /bin/busybox, whose
/// entrypoint sleeps forever. The pause container only holds the pod's namespaces; containerd's
/// StopPodSandbox kills it with SIGKILL, so it needs no signal handling.
/// </summary>
public static class PauseImage
{
    /// <summary>The image's name: containerd's <c>sandbox_image</c>.</summary>
    public const string Reference = "fathom.lab/pause:1";

    /// <summary>Where Debian's busybox-static puts its binary.</summary>
    public const string Busybox = "/bin/busybox";

    /// <summary>Writes the image as an OCI layout tar to <paramref name="path"/>.</summary>
    /// <exception cref="InvalidOperationException">No static busybox at <paramref name="busybox"/>.</exception>
    public static void Write(string path, string busybox = Busybox)
    {
        if (!File.Exists(busybox))
            throw new InvalidOperationException($"the lab's pause image needs a static busybox at {busybox} (apt-get install busybox-static)");
        var (layer, diffId) = Layer(busybox);
        var config = Json(new JsonObject
        {
            ["architecture"] = "amd64",
            ["os"] = "linux",
            ["config"] = new JsonObject { ["Entrypoint"] = new JsonArray("/bin/busybox", "sleep", "2147483647") },
            ["rootfs"] = new JsonObject { ["type"] = "layers", ["diff_ids"] = new JsonArray("sha256:" + diffId) },
        });
        var manifest = Json(new JsonObject
        {
            ["schemaVersion"] = 2,
            ["mediaType"] = "application/vnd.oci.image.manifest.v1+json",
            ["config"] = Descriptor("application/vnd.oci.image.config.v1+json", config),
            ["layers"] = new JsonArray(Descriptor("application/vnd.oci.image.layer.v1.tar+gzip", layer)),
        });
        var index = Descriptor("application/vnd.oci.image.manifest.v1+json", manifest);
        index["annotations"] = new JsonObject { ["io.containerd.image.name"] = Reference, ["org.opencontainers.image.ref.name"] = "1" };
        index["platform"] = new JsonObject { ["architecture"] = "amd64", ["os"] = "linux" };

        using var file = File.Create(path);
        using var tar = new TarWriter(file, TarEntryFormat.Pax, leaveOpen: false);
        Add(tar, "oci-layout", Encoding.UTF8.GetBytes("""{"imageLayoutVersion":"1.0.0"}"""));
        Add(tar, "index.json", Json(new JsonObject { ["schemaVersion"] = 2, ["manifests"] = new JsonArray(index) }));
        foreach (var blob in new[] { layer, config, manifest })
            Add(tar, "blobs/sha256/" + Digest(blob), blob);
    }

    // The layer (tar+gzip) and its diff ID, the digest of the uncompressed tar.
    private static (byte[] Layer, string DiffId) Layer(string busybox)
    {
        using var plain = new MemoryStream();
        using (var tar = new TarWriter(plain, TarEntryFormat.Pax, leaveOpen: true))
        {
            tar.WriteEntry(new PaxTarEntry(TarEntryType.Directory, "bin/") { Mode = (UnixFileMode)0b111_101_101 });
            var entry = new PaxTarEntry(TarEntryType.RegularFile, "bin/busybox")
            {
                Mode = (UnixFileMode)0b111_101_101,
                DataStream = File.OpenRead(busybox),
            };
            tar.WriteEntry(entry);
            entry.DataStream.Dispose();
        }
        var uncompressed = plain.ToArray();
        using var gz = new MemoryStream();
        using (var zip = new GZipStream(gz, CompressionLevel.Fastest, leaveOpen: true))
            zip.Write(uncompressed);
        return (gz.ToArray(), Digest(uncompressed));
    }

    private static JsonObject Descriptor(string mediaType, byte[] blob) => new()
    {
        ["mediaType"] = mediaType,
        ["digest"] = "sha256:" + Digest(blob),
        ["size"] = blob.Length,
    };

    private static void Add(TarWriter tar, string name, byte[] data)
    {
        using var stream = new MemoryStream(data);
        tar.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, name) { Mode = (UnixFileMode)0b110_100_100, DataStream = stream });
    }

    private static byte[] Json(JsonObject o) => Encoding.UTF8.GetBytes(o.ToJsonString());

    private static string Digest(byte[] data) => Convert.ToHexStringLower(SHA256.HashData(data));
}
