namespace Fathom.Cloud.Tests;

public sealed class AttachmentWaiterTests
{
    private readonly SteppingTime _time = new();
    private readonly ScriptedCloudProvider _cloud;

    public AttachmentWaiterTests() => _cloud = new ScriptedCloudProvider(_time);

    [Fact]
    public async Task It_polls_with_growing_bounded_pauses_until_the_attachment_is_attached()
    {
        var polls = 0;
        _cloud.EniAnswer = () => ScriptedCloudProvider.SampleEni(state: ++polls < 6 ? EniAttachmentState.Attaching : EniAttachmentState.Attached, attachmentId: "eni-attach-1");
        var options = new AttachmentWaitOptions { InitialInterval = TimeSpan.FromMilliseconds(100), MaxInterval = TimeSpan.FromMilliseconds(500) };
        var eni = await _time.DriveAsync(_cloud.WaitForAttachmentAsync("eni-0123456789abcdef0", "eni-attach-1", options, _time));
        Assert.Equal(EniAttachmentState.Attached, eni.AttachmentState);
        Assert.Equal(6, polls);
        Assert.Equal([100, 200, 400, 500, 500], _time.Delays.Select(d => d.TotalMilliseconds));
    }

    [Fact]
    public async Task It_then_waits_for_the_metadata_service_to_list_the_MAC()
    {
        _cloud.EniAnswer = () => ScriptedCloudProvider.SampleEni(state: EniAttachmentState.Attached, attachmentId: "eni-attach-1");
        var lists = 0;
        _cloud.MacsAnswer = () => ++lists < 3 ? [] : [ScriptedCloudProvider.SampleEni().Mac];
        await _time.DriveAsync(_cloud.WaitForAttachmentAsync("eni-0123456789abcdef0", "eni-attach-1", time: _time));
        Assert.Equal(3, lists);
        Assert.Equal([100, 200], _time.Delays.Select(d => d.TotalMilliseconds));

        _cloud.MacsAnswer = () => [];
        var e = await Assert.ThrowsAsync<CloudException>(() => _time.DriveAsync(_cloud.WaitForAttachmentAsync("eni-0123456789abcdef0", "eni-attach-1",
            new AttachmentWaitOptions { Timeout = TimeSpan.FromSeconds(1) }, _time)));
        Assert.Contains("metadata", e.Message);

        _cloud.MacsAnswer = () => throw new InvalidOperationException("not asked");
        await _cloud.WaitForAttachmentAsync("eni-0123456789abcdef0", "eni-attach-1", new AttachmentWaitOptions { WaitForMetadata = false }, _time);
    }

    [Fact]
    public async Task It_gives_up_at_the_timeout_as_a_transient_failure()
    {
        _cloud.EniAnswer = () => ScriptedCloudProvider.SampleEni(state: EniAttachmentState.Attaching, attachmentId: "eni-attach-1");
        var options = new AttachmentWaitOptions { Timeout = TimeSpan.FromSeconds(3) };
        var e = await Assert.ThrowsAsync<CloudException>(() => _time.DriveAsync(_cloud.WaitForAttachmentAsync("eni-0123456789abcdef0", "eni-attach-1", options, _time)));
        Assert.Equal((CloudErrorKind.Transient, AttachmentWaiter.TimeoutCode), (e.Kind, e.Code));
        Assert.Equal(TimeSpan.FromSeconds(3), _time.Delays.Aggregate(TimeSpan.Zero, (a, b) => a + b));
    }

    [Fact]
    public async Task A_detach_is_waited_for_until_the_ENI_is_available()
    {
        var polls = 0;
        _cloud.EniAnswer = () => ++polls < 3
            ? ScriptedCloudProvider.SampleEni(state: EniAttachmentState.Detaching, attachmentId: "eni-attach-1")
            : ScriptedCloudProvider.SampleEni();
        var eni = await _time.DriveAsync(_cloud.WaitForDetachmentAsync("eni-0123456789abcdef0", time: _time));
        Assert.Equal(EniAttachmentState.Detached, eni.AttachmentState);
        Assert.Equal([100, 200], _time.Delays.Select(d => d.TotalMilliseconds));

        _cloud.EniAnswer = () => ScriptedCloudProvider.SampleEni(state: EniAttachmentState.Detaching, attachmentId: "eni-attach-1");
        var e = await Assert.ThrowsAsync<CloudException>(() => _time.DriveAsync(_cloud.WaitForDetachmentAsync("eni-0123456789abcdef0",
            new AttachmentWaitOptions { Timeout = TimeSpan.FromSeconds(2) }, _time)));
        Assert.Equal(AttachmentWaiter.TimeoutCode, e.Code);
    }

    [Fact]
    public async Task An_attachment_that_vanished_is_reported_not_waited_for()
    {
        _cloud.EniAnswer = () => ScriptedCloudProvider.SampleEni(state: EniAttachmentState.Detached);
        var e = await Assert.ThrowsAsync<CloudException>(() => _cloud.WaitForAttachmentAsync("eni-0123456789abcdef0", "eni-attach-1", time: _time));
        Assert.Equal((CloudErrorKind.NotFound, AttachmentWaiter.LostCode), (e.Kind, e.Code));
    }
}
