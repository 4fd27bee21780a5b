using System.Text;
using Fathom.Lab.Ec2;

namespace Fathom.Lab.Tests.Ec2;

/// <summary>EC2 Query syntax: form decoding, numbered lists, filters and tags.</summary>
public sealed class QueryParametersTests
{
    [Fact]
    public void Decodes_form_encoding()
    {
        var q = QueryParameters.Parse("Action=CreateNetworkInterface&Description=pod+pool%20%E2%9C%93&Empty=&Flag");
        Assert.Equal("CreateNetworkInterface", q.Get("Action"));
        Assert.Equal("pod pool ✓", q.Get("Description"));
        Assert.Equal("", q.Get("Empty"));
        Assert.Equal("", q.Get("Flag"));
        Assert.Null(q.Get("Missing"));
        Assert.Equal("CreateNetworkInterface", q.Get("action")); // names are case-insensitive
    }

    [Fact]
    public void Reads_numbered_lists_in_index_order()
    {
        var q = QueryParameters.Parse("NetworkInterfaceId.10=eni-c&NetworkInterfaceId.2=eni-b&NetworkInterfaceId.1=eni-a&NetworkInterfaceIdX=no");
        Assert.Equal(["eni-a", "eni-b", "eni-c"], q.List("NetworkInterfaceId"));
        Assert.Empty(q.List("SubnetId"));
    }

    [Fact]
    public void Reads_filters_with_several_values()
    {
        var q = QueryParameters.Parse(
            "Filter.1.Name=tag%3Afathom.io%2Fnode&Filter.1.Value.1=node-1&Filter.1.Value.2=node-2&Filter.2.Name=status&Filter.2.Value.1=available");
        var filters = q.Filters();
        Assert.Equal(2, filters.Count);
        Assert.Equal("tag:fathom.io/node", filters[0].Name);
        Assert.Equal(["node-1", "node-2"], filters[0].Values);
        Assert.Equal(("status", "available"), (filters[1].Name, filters[1].Values.Single()));
    }

    [Fact]
    public void Reads_tags_with_optional_values()
    {
        var q = QueryParameters.Parse("TagSpecification.1.ResourceType=network-interface&TagSpecification.1.Tag.1.Key=a&TagSpecification.1.Tag.1.Value=1&TagSpecification.1.Tag.2.Key=b");
        Assert.Equal([new("a", "1"), new KeyValuePair<string, string?>("b", null)], q.Tags("TagSpecification.1.Tag"));
    }

    [Fact]
    public void A_filter_without_a_name_is_MissingParameter()
    {
        var e = Assert.Throws<Ec2Exception>(() => QueryParameters.Parse("Filter.1.Value.1=x").Filters());
        Assert.Equal("MissingParameter", e.Code);
    }

    [Fact]
    public void Bad_numbers_and_booleans_are_InvalidParameterValue()
    {
        var q = QueryParameters.Parse("DeviceIndex=one&Force=maybe");
        Assert.Equal("InvalidParameterValue", Assert.Throws<Ec2Exception>(() => q.GetInt("DeviceIndex")).Code);
        Assert.Equal("InvalidParameterValue", Assert.Throws<Ec2Exception>(() => q.GetBool("Force")).Code);
        Assert.Equal("InvalidParameterValue", Assert.Throws<Ec2Exception>(() => QueryParameters.ParseIPv4("PrivateIpAddress", "10.1")).Code);
    }

    [Fact]
    public void Merges_query_string_and_form_body()
    {
        var request = new Ec2HttpRequest("POST", "/", "Version=2016-11-15",
            new Dictionary<string, string> { ["content-type"] = "application/x-www-form-urlencoded; charset=utf-8" },
            Encoding.UTF8.GetBytes("Action=DescribeSubnets"));
        var q = QueryParameters.FromRequest(request);
        Assert.Equal(("DescribeSubnets", "2016-11-15"), (q.Get("Action"), q.Get("Version")));
    }

    [Theory]
    [InlineData("*", "anything", true)]
    [InlineData("node-?", "node-1", true)]
    [InlineData("node-?", "node-12", false)]
    [InlineData("10.0.*.5", "10.0.17.5", true)]
    [InlineData("eni-*", "i-123", false)]
    [InlineData("exact", "exact", true)]
    [InlineData("exact", "Exact", false)]
    public void Filter_wildcards(string pattern, string text, bool match) => Assert.Equal(match, Filtering.Glob(pattern, text));
}
