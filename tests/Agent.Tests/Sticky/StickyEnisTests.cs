using Fathom.Agent.Pools;
using Fathom.Agent.Protocol;
using Fathom.Agent.Sticky;
using Fathom.Cloud;
using EniNode = Fathom.Agent.Tests.Sticky.StickyTestNode<Fathom.Agent.Sticky.StickyRecord, Fathom.Agent.Sticky.StickyPhase, Fathom.Agent.Protocol.UnderlayAllocation>;

namespace Fathom.Agent.Tests.Sticky;

/// <summary>
/// Sticky ENIs (issue 11 §3) on two nodes of the lab's EC2 (in-process, reached through the real AWS
/// provider, <see cref="StickyPodsTests{TRecord, TPhase, TAllocation}"/>): the state machine — bound, retained,
/// taken again, handed over, expired — on a fake clock, and every
/// crash point of a hand-over and an expiry: after a restart the ENI is attached exactly once, never
/// lost, and the pod's retried ADD gets it.
/// </summary>
public sealed class StickyEnisTests : StickyPodsTests<StickyRecord, StickyPhase, UnderlayAllocation>
{
    private protected override Task<EniNode> StartNodeAsync(ICloudProvider cloud, string stateDir, string name, StickyConfig config) =>
        EniNode.StartAsync(cloud, stateDir, name, AllocationMode.Underlay, new PoolTargets { WarmEnis = 1, WarmIps = 0 }, node =>
        {
            var sticky = new StickyEnis(node.Pool, cloud, StickyStore.Open(node.Store.State), node.Store, node.Teardown, Options(name, config) with
            {
                AttachmentWait = new AttachmentWaitOptions { InitialInterval = TimeSpan.FromMilliseconds(5), MaxInterval = TimeSpan.FromMilliseconds(50) },
            }, AgentLog.None, Clock);
            node.Allocator.StickyEnis = sticky;
            return sticky;
        }, s => s.Enis.Any(e => e.IsWarm), "a warm ENI");

    [Fact]
    public async Task A_sticky_pods_ENI_is_tagged_retained_after_its_DEL_and_its_own_again()
    {
        var node = await StartAsync(Instance1, "node-1");
        var first = await node.AddAsync("c1", Web0);
        await node.Sticky.TickAsync();
        Assert.Equal("db/web-0", Lab(first.EniId).Tags[EniTags.Sticky]);
        Assert.Equal(StickyPhase.Held, node.Sticky.Store.Get("db/web-0")!.Phase);

        await node.DelAsync("c1");
        var retained = node.Sticky.Store.Get("db/web-0")!;
        Assert.Equal((StickyPhase.Retained, true), (retained.Phase, retained.TagsInSync));
        Assert.Equal(EniTags.StickyReleasedValue(Clock.GetUtcNow()), Lab(first.EniId).Tags[EniTags.StickyReleased]);

        // Kept for its pod: another underlay pod gets another ENI, the planner does not count it warm.
        var other = await node.AddAsync("c2", new PodIdentity { Namespace = "default", Name = "web-0" });
        Assert.NotEqual(first.EniId, other.EniId);
        Assert.DoesNotContain(node.Pool.Snapshot().Enis, e => e.EniId == first.EniId && e.IsWarm);

        var again = await node.AddAsync("c3", Web0);
        Assert.Equal((first.EniId, first.Address, first.Mac), (again.EniId, again.Address, again.Mac));
        Assert.False(Lab(first.EniId).Tags.ContainsKey(EniTags.StickyReleased));
        Assert.Equal(StickyPhase.Held, node.Sticky.Store.Get("db/web-0")!.Phase);
    }

    [Fact]
    public async Task Another_node_takes_the_ENI_once_released_and_the_old_node_forgets_it()
    {
        var (node1, first) = await RetainedOnAsync(Instance1, "node-1");
        var node2 = await StartAsync(Instance2, "node-2");

        var moved = await node2.AddAsync("c2", Web0);
        Assert.Equal((first.EniId, first.Address, first.Mac, first.Gateway), (moved.EniId, moved.Address, moved.Mac, moved.Gateway));
        var eni = Lab(first.EniId);
        Assert.Equal(Instance2.InstanceId, eni.Attachment?.InstanceId);
        Assert.False(eni.Tags.ContainsKey(EniTags.StickyReleased));
        await node2.Sticky.TickAsync();
        Assert.Equal("node-2", Lab(first.EniId).Tags[EniTags.Node]);

        await AssertForgottenAsync(node1);
        Assert.DoesNotContain(node1.Pool.Enis(), e => e.EniId == first.EniId);
        Assert.True(node1.Sticky.IsReserved(first.EniId)); // until the pool has surely let go of it
    }

    [Fact]
    public async Task A_node_whose_retained_ENI_was_taken_before_it_noticed_claims_it_back_from_the_cloud_not_its_record()
    {
        var (node1, first) = await RetainedOnAsync(Instance1, "node-1");
        var node2 = await StartAsync(Instance2, "node-2");
        await node2.AddAsync("c2", Web0);
        await node2.DelAsync("c2");

        // node1 still records the ENI retained (its check has not run): the cloud says where it is.
        Assert.Equal(StickyPhase.Retained, node1.Sticky.Store.Get("db/web-0")!.Phase);
        var back = await node1.AddAsync("c3", Web0);
        Assert.Equal((first.EniId, first.Address, first.Mac), (back.EniId, back.Address, back.Mac));
        Assert.Equal(Instance1.InstanceId, Lab(first.EniId).Attachment?.InstanceId);
        Assert.Equal(StickyPhase.Held, node1.Sticky.Store.Get("db/web-0")!.Phase);
        await AssertForgottenAsync(node2);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task The_old_nodes_released_tag_landing_after_the_hand_over_is_undone_by_the_new_node(bool restartedMeanwhile)
    {
        var (_, first) = await RetainedOnAsync(Instance1, "node-1");
        var node2 = await StartAsync(Instance2, "node-2");
        await node2.AddAsync("c2", Web0);
        await node2.Sticky.TickAsync();
        // The second write is scheduled in memory: a start schedules it again.
        if (restartedMeanwhile) node2 = await RestartAsync(node2, Instance2);
        // node-1's tag write whose answer was lost, retried after node-2 took the ENI: "released" (which would let
        // another node's claim take it from the running pod) and node-1's name back on it.
        await Ec2.Cloud.CreateTagsAsync([first.EniId], new Dictionary<string, string>
        {
            [EniTags.StickyReleased] = EniTags.StickyReleasedValue(Clock.GetUtcNow()), [EniTags.Node] = "node-1",
        });

        // Written once more when node-1's retries must be over (their budget, 30 s, and 10 s more).
        Clock.Advance(TimeSpan.FromSeconds(39));
        await node2.Sticky.TickAsync();
        Assert.True(Lab(first.EniId).Tags.ContainsKey(EniTags.StickyReleased));
        Clock.Advance(TimeSpan.FromSeconds(1));
        await node2.Sticky.TickAsync();
        Assert.False(Lab(first.EniId).Tags.ContainsKey(EniTags.StickyReleased));
        Assert.Equal(("node-2", "db/web-0"), (Lab(first.EniId).Tags[EniTags.Node], Lab(first.EniId).Tags[EniTags.Sticky]));
        Assert.Equal(StickyPhase.Held, node2.Sticky.Store.Get("db/web-0")!.Phase);
    }

    [Fact]
    public async Task A_hand_over_whose_every_answer_was_lost_moves_the_ENI_in_the_same_ADD()
    {
        var (node1, first) = await RetainedOnAsync(Instance1, "node-1");
        var node2 = await StartAsync(Instance2, "node-2");
        // Every detach and attach is done and answered 500 (a time-out after EC2 did the work): the detach's
        // retry finds the attachment gone, the attach's is refused InvalidNetworkInterface.InUse.
        LoseEveryAnswerOf("DetachNetworkInterface", "AttachNetworkInterface");

        var moved = await node2.AddAsync("c2", Web0);
        Assert.Equal((first.EniId, first.Address, first.Mac), (moved.EniId, moved.Address, moved.Mac));
        Assert.Equal(Instance2.InstanceId, Lab(first.EniId).Attachment?.InstanceId);
        await node2.Sticky.TickAsync();
        Assert.Equal("node-2", Lab(first.EniId).Tags[EniTags.Node]);
        await AssertForgottenAsync(node1);
        Assert.Single(Ec2.Cloud.NetworkInterfaces, e => e.Tags.GetValueOrDefault(EniTags.Sticky) == "db/web-0");
    }

    [Fact]
    public async Task A_claim_while_the_old_pod_runs_fails_with_code_11_naming_the_cause_and_changes_nothing()
    {
        var (node2, first, reply) = await ClaimedWhileRunningAsync();
        Assert.Contains($"still attached to {Instance1.InstanceId} and not released", reply.Message);
        Assert.Equal(Instance1.InstanceId, Lab(first.EniId).Attachment?.InstanceId);
        Assert.Null(node2.Sticky.Store.Get("db/web-0"));
    }

    [Fact]
    public async Task A_retained_ENI_whose_pod_does_not_come_back_is_detached_and_deleted()
    {
        var (node, first) = await RetentionOverAsync();
        Assert.False(Ec2.Cloud.TryGetEni(first.EniId, out _));
        Assert.Null(node.Sticky.Store.Get("db/web-0"));
        Assert.DoesNotContain(node.Pool.Enis(), e => e.EniId == first.EniId);
        // The pod back after that: a new ENI, its own from now on.
        var later = await node.AddAsync("c2", Web0);
        Assert.NotEqual(first.EniId, later.EniId);
    }

    [Theory]
    [InlineData("detach")]
    [InlineData("attach")]
    [InlineData("attached")]
    public async Task An_agent_killed_in_a_hand_over_leaves_the_ENI_attached_once_and_the_retry_gets_it(string step)
    {
        var (node1, node2, first) = await HandOverKilledAtAsync(step);

        // Whatever the step: one attachment at most, and the reconciles after the restart swept nothing away.
        var eni = Lab(first.EniId);
        Assert.Contains(eni.Attachment?.InstanceId, new[] { Instance1.InstanceId, Instance2.InstanceId, null });
        Assert.Equal(eni.Attachment?.InstanceId == Instance2.InstanceId ? StickyPhase.Retained : null, node2.Sticky.Store.Get("db/web-0")?.Phase);

        var moved = await node2.AddAsync("c2", Web0);
        Assert.Equal((first.EniId, first.Address, first.Mac), (moved.EniId, moved.Address, moved.Mac));
        Assert.Equal(Instance2.InstanceId, Lab(first.EniId).Attachment?.InstanceId);
        Assert.Single(Ec2.Cloud.NetworkInterfaces, e => e.Tags.GetValueOrDefault(EniTags.Sticky) == "db/web-0");
        await AssertForgottenAsync(node1);
    }

    [Fact]
    public async Task An_agent_killed_in_an_expiry_finishes_it_on_restart()
    {
        var (node, first, crashed) = await ExpiryKilledAndRestartedAsync();
        Assert.Equal(StickyPhase.Expiring, crashed.Phase);
        Assert.False(Ec2.Cloud.TryGetEni(first.EniId, out _));
        Assert.Null(node.Sticky.Store.Get("db/web-0"));
    }

    [Fact]
    public async Task A_detached_sticky_ENI_is_left_to_its_pod_by_the_leaked_ENI_sweep_until_long_after_its_release()
    {
        var (node1, first) = await RetainedOnAsync(Instance1, "node-1");
        // Detached under the agent (as a hand-over in the middle, or its instance gone), its record dropped.
        var attachment = Lab(first.EniId).Attachment!.AttachmentId;
        await Ec2.Cloud.DetachNetworkInterfaceAsync(attachment);
        await AssertForgottenAsync(node1);

        await node1.ReconcileAsync();
        Assert.True(Ec2.Cloud.TryGetEni(first.EniId, out _));
        // The pod on another node later: it finds the ENI detached and attaches it.
        var node2 = await StartAsync(Instance2, "node-2");
        var moved = await node2.AddAsync("c2", Web0);
        Assert.Equal((first.EniId, first.Address), (moved.EniId, moved.Address));
    }
}
