using System.Text.Json;
using Amazon.EC2.Model;
using Fathom.Lab.Ec2;
using Tag = Amazon.EC2.Model.Tag;

namespace Fathom.Lab.Tests.Ec2;

/// <summary>
/// The real AWS CLI (botocore, Python: another signer and another XML parser than the .NET SDK)
/// against the lab, the way an operator inspects it after <c>fathomctl lab env</c>.
/// </summary>
public sealed class AwsCliTests : IAsyncLifetime
{
    private Ec2TestLab _lab = null!;
    private string _home = null!;

    public async Task InitializeAsync()
    {
        _lab = await Ec2TestLab.StartAsync();
        _home = Directory.CreateTempSubdirectory("fathom-awscli-").FullName;
    }

    public async Task DisposeAsync()
    {
        await _lab.DisposeAsync();
        Directory.Delete(_home, recursive: true);
    }

    private Shell.Result Aws(params string[] args) =>
        Shell.Run("aws", ["--endpoint-url", _lab.Server.Url.ToString(), "--output", "json", "ec2", .. args], env: new Dictionary<string, string>
        {
            ["AWS_ACCESS_KEY_ID"] = _lab.Credentials.AccessKeyId,
            ["AWS_SECRET_ACCESS_KEY"] = _lab.Credentials.SecretAccessKey,
            ["AWS_DEFAULT_REGION"] = Ec2TestLab.Region,
            // Nothing from the machine's own AWS setup may leak in (profiles, IMDS look-ups).
            ["HOME"] = _home,
            ["AWS_CONFIG_FILE"] = Path.Combine(_home, "config"),
            ["AWS_SHARED_CREDENTIALS_FILE"] = Path.Combine(_home, "credentials"),
            ["AWS_EC2_METADATA_DISABLED"] = "true",
            ["AWS_MAX_ATTEMPTS"] = "1",
        });

    [Fact]
    public async Task The_aws_CLI_reads_and_changes_the_lab()
    {
        var eni = (await _lab.Client.CreateNetworkInterfaceAsync(new CreateNetworkInterfaceRequest
        {
            SubnetId = _lab.Subnet1.SubnetId,
            Description = "seen by the CLI",
            TagSpecifications = [new TagSpecification { ResourceType = Amazon.EC2.ResourceType.NetworkInterface, Tags = [new Tag("fathom.io/node", "node-large")] }],
        })).NetworkInterface;

        var described = Aws("describe-network-interfaces", "--filters", "Name=tag:fathom.io/node,Values=node-large").EnsureSuccess("aws describe-network-interfaces");
        using (var doc = JsonDocument.Parse(described.Stdout))
        {
            var item = doc.RootElement.GetProperty("NetworkInterfaces").EnumerateArray().Single();
            Assert.Equal(eni.NetworkInterfaceId, item.GetProperty("NetworkInterfaceId").GetString());
            Assert.Equal(eni.MacAddress, item.GetProperty("MacAddress").GetString());
            Assert.Equal("seen by the CLI", item.GetProperty("Description").GetString());
            Assert.Equal("available", item.GetProperty("Status").GetString());
            Assert.True(item.GetProperty("PrivateIpAddresses")[0].GetProperty("Primary").GetBoolean());
        }

        Aws("assign-private-ip-addresses", "--network-interface-id", eni.NetworkInterfaceId, "--secondary-private-ip-address-count", "2")
            .EnsureSuccess("aws assign-private-ip-addresses");
        Assert.True(_lab.Cloud.TryGetEni(eni.NetworkInterfaceId, out var after));
        Assert.Equal(2, after.SecondaryPrivateIps.Count);

        var types = Aws("describe-instance-types", "--instance-types", "c5.4xlarge").EnsureSuccess("aws describe-instance-types");
        using (var doc = JsonDocument.Parse(types.Stdout))
        {
            var net = doc.RootElement.GetProperty("InstanceTypes")[0].GetProperty("NetworkInfo");
            Assert.Equal((8, 30), (net.GetProperty("MaximumNetworkInterfaces").GetInt32(), net.GetProperty("Ipv4AddressesPerInterface").GetInt32()));
        }

        // Errors come back parsed: the CLI prints EC2's code.
        var missing = Aws("delete-network-interface", "--network-interface-id", "eni-0000000000000000f");
        Assert.NotEqual(0, missing.ExitCode);
        Assert.Contains(Ec2ErrorCodes.InvalidNetworkInterfaceIdNotFound, missing.Stderr);
    }
}
