using System.Net.Sockets;

namespace Fathom.Agent.Protocol.Tests;

/// <summary>
/// A misbehaving agent: accepts connections on a Unix socket, reads whatever comes, and answers
/// each with fixed bytes (or nothing), then closes. For testing the client against replies a real
/// agent never sends.
/// </summary>
internal sealed class RawServer : IDisposable
{
    private readonly Socket _socket = new(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
    private readonly Thread _thread;
    private volatile bool _stopped;

    public RawServer(string path, Func<byte[]?> answer, TimeSpan? holdOpen = null)
    {
        _socket.Bind(new UnixDomainSocketEndPoint(path));
        _socket.Listen(16);
        _thread = new Thread(() =>
        {
            while (!_stopped)
            {
                Socket client;
                try
                {
                    client = _socket.Accept();
                }
                catch (SocketException)
                {
                    return;
                }
                catch (ObjectDisposedException)
                {
                    return;
                }
                using (client)
                {
                    try
                    {
                        var buffer = new byte[65536];
                        client.ReceiveTimeout = 2000;
                        client.Receive(buffer);
                        if (answer() is { } bytes)
                            client.Send(bytes);
                        if (holdOpen is { } hold)
                            Thread.Sleep(hold);
                    }
                    catch (SocketException)
                    {
                    }
                }
            }
        }) { IsBackground = true };
        _thread.Start();
    }

    public void Dispose()
    {
        _stopped = true;
        _socket.Dispose();
        _thread.Join(TimeSpan.FromSeconds(5));
    }
}
