using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using Fathom.Cloud;
using Fathom.Cloud.Aws;
using Fathom.Lab.Ec2;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Fathom.Ctl;

/// <summary>
/// The cluster view one machine cannot hold (issue 12 §3): <paramref name="agents"/> nodes scaling
/// out from empty at once, each wanting <paramref name="podsPerAgent"/> shared-mode pods, against
/// the lab's EC2 API (its model, no kernel objects: <see cref="NullVpcFabric"/>) with EC2's
/// account-level request limits in force — a token bucket per action, sized by its category as
/// EC2 documents them (mutating 200 tokens refilled 5/s, describe 100 and 20/s), answering
/// <c>RequestLimitExceeded</c> (HTTP 503) when empty. Each simulated agent calls through the agent's
/// own cloud stack (<see cref="AwsCloudProvider"/> in <see cref="ResilientCloudProvider"/>: its
/// client-side buckets, backoff and jitter) and does what its pool does on a cold start: create an
/// ENI, attach it, assign secondary IPs in one batch, until its pods have addresses.
/// </summary>
internal sealed class BenchScaleSimulation(int agents, int podsPerAgent, string instanceType)
{
    private const string Region = "us-east-1";
    private readonly ConcurrentDictionary<string, TokenBucket> _buckets = new(StringComparer.Ordinal);
    private long _requests;
    private long _throttled;
    private long _refillRetries;

    /// <summary>The figures of the run: pods networked, agents done, time, calls per pod, throttled answers, slowest / median agent.</summary>
    public async Task<Dictionary<string, double>> RunAsync(CancellationToken cancellationToken)
    {
        var cloud = new Ec2Cloud(new NullVpcFabric(), new Ec2CloudOptions(), random: new Random(12));
        var subnet = cloud.CreateSubnet("10.0.0.0/17", "us-east-1a");
        var instances = new List<string>();
        for (var i = 0; i < agents; i++)
            instances.Add((await cloud.LaunchInstanceAsync(instanceType, subnet.SubnetId, $"sim{i + 1}", cancellationToken).ConfigureAwait(false)).InstanceId);
        var limits = InstanceTypeLimits.Known.Single(t => t.Name == instanceType);
        await using var server = await StartAsync(cloud, cancellationToken).ConfigureAwait(false);
        using var imds = new ImdsClient();
        var finished = new ConcurrentBag<double>();
        var pods = 0L;
        var stopwatch = Stopwatch.StartNew();
        await Parallel.ForEachAsync(instances, new ParallelOptions { MaxDegreeOfParallelism = agents, CancellationToken = cancellationToken }, async (instance, ct) =>
        {
            using var provider = new ResilientCloudProvider(new AwsCloudProvider(new AwsCloudOptions
            {
                Region = Region,
                ServiceUrl = server,
                StaticCredentials = new AwsStaticCredentials(Ec2Credentials.Lab.AccessKeyId, Ec2Credentials.Lab.SecretAccessKey),
                RequestTimeout = TimeSpan.FromSeconds(30),
            }, imds));
            var need = podsPerAgent;
            for (var device = 1; need > 0 && device < limits.MaximumNetworkInterfaces; device++)
            {
                var eni = await Persist(() => provider.CreateEniAsync(new CreateEniRequest { SubnetId = subnet.SubnetId }, ct), ct).ConfigureAwait(false);
                var at = device;
                await Persist(() => provider.AttachEniAsync(eni.EniId, instance, at, ct), ct).ConfigureAwait(false);
                var batch = Math.Min(need, limits.Ipv4AddressesPerInterface - 1);
                var ips = await Persist(() => provider.AssignPrivateIpsAsync(eni.EniId, batch, ct), ct).ConfigureAwait(false);
                need -= ips.Count;
                Interlocked.Add(ref pods, ips.Count);
            }
            finished.Add(stopwatch.Elapsed.TotalSeconds);
        }).ConfigureAwait(false);
        var times = finished.ToList();
        return new Dictionary<string, double>
        {
            ["agents"] = agents,
            ["agentsDone"] = times.Count,
            ["pods"] = pods,
            ["seconds"] = stopwatch.Elapsed.TotalSeconds,
            ["apiCalls"] = _requests,
            ["apiCallsPerPod"] = pods == 0 ? double.NaN : (double)_requests / pods,
            ["throttled"] = _throttled,
            ["refillPassesRetried"] = _refillRetries,
            ["slowestAgentSeconds"] = times.DefaultIfEmpty(double.NaN).Max(),
            ["medianAgentSeconds"] = BenchScratch.Percentile(times, 0.5),
        };
    }

    /// <summary>
    /// One step of the pool's refill: when the provider's own retries end throttled, the agent tries
    /// again on its next refill pass (here after 1–2 s, jittered), as the pool loop does — never gives up.
    /// </summary>
    private async Task<T> Persist<T>(Func<Task<T>> step, CancellationToken cancellationToken)
    {
        while (true)
        {
            try
            {
                return await step().ConfigureAwait(false);
            }
            catch (CloudException e) when (e.Kind == CloudErrorKind.Throttled)
            {
                Interlocked.Increment(ref _refillRetries);
                await Task.Delay(TimeSpan.FromMilliseconds(1000 + Random.Shared.Next(1000)), cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>The lab's EC2 endpoint on 127.0.0.1 behind the account's buckets: a request that finds its action's bucket empty is answered as EC2 answers it.</summary>
    private async Task<AsyncDisposableServer> StartAsync(Ec2Cloud cloud, CancellationToken cancellationToken)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(options => options.Listen(IPAddress.Loopback, 0));
        var app = builder.Build();
        app.Use(async (context, next) =>
        {
            Interlocked.Increment(ref _requests);
            // The endpoint reads the body again (SigV4 signs its hash): buffered, and rewound after the form is read.
            context.Request.EnableBuffering();
            var form = context.Request.HasFormContentType ? await context.Request.ReadFormAsync(context.RequestAborted).ConfigureAwait(false) : null;
            context.Request.Body.Position = 0;
            var action = form?["Action"].ToString() is { Length: > 0 } a ? a : context.Request.Query["Action"].ToString();
            var bucket = _buckets.GetOrAdd(action, name => new TokenBucket(name.StartsWith("Describe", StringComparison.Ordinal)
                ? new TokenBucketOptions(100, 20) : new TokenBucketOptions(200, 5)));
            if (bucket.Reserve() > TimeSpan.Zero)
            {
                bucket.Release();
                Interlocked.Increment(ref _throttled);
                context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
                context.Response.ContentType = "text/xml;charset=UTF-8";
                await context.Response.WriteAsync($"<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message></Error></Errors><RequestID>{Guid.NewGuid()}</RequestID></Response>", context.RequestAborted).ConfigureAwait(false);
                return;
            }
            await next(context).ConfigureAwait(false);
        });
        Ec2Endpoint.Map(app, cloud, Ec2Credentials.Lab, new FaultPlan());
        await app.StartAsync(cancellationToken).ConfigureAwait(false);
        var address = app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.Single();
        return new AsyncDisposableServer(app, new Uri(address.EndsWith('/') ? address : address + "/"));
    }

    /// <summary>The running endpoint: its URL, stopped on dispose.</summary>
    private sealed class AsyncDisposableServer(WebApplication app, Uri url) : IAsyncDisposable
    {
        public static implicit operator Uri(AsyncDisposableServer server) => server.Url;

        public Uri Url => url;

        public async ValueTask DisposeAsync()
        {
            await app.StopAsync().ConfigureAwait(false);
            await app.DisposeAsync().ConfigureAwait(false);
        }
    }
}
