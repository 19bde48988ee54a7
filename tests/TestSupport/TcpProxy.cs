using System.Net;
using System.Net.Sockets;

namespace PlayMusic.TestSupport;

/// <summary>
/// A loopback TCP relay in front of a real server, so a test can cut the network to it
/// (<see cref="Cut"/>: open connections are reset, new ones refused) and restore it, or stall what the
/// server sends (<see cref="StallDownlink"/>) as a phone's link in a tunnel does.
/// </summary>
public sealed class TcpProxy : IAsyncDisposable
{
    private readonly IPEndPoint _target;
    private readonly int? _serverReceiveBufferBytes;
    private readonly List<TcpClient> _open = [];
    private readonly CancellationTokenSource _stopping = new();
    private TcpListener? _listener;
    private Task _acceptLoop = Task.CompletedTask;
    private TaskCompletionSource _downlinkFlowing = Flowing();

    /// <param name="serverReceiveBufferBytes">
    /// The relay's receive buffer towards the server: small, a stalled downlink leaves what the server sends queued on
    /// the server's side (as on a real link) instead of in the relay's kernel.
    /// </param>
    public TcpProxy(string host, int port, int? serverReceiveBufferBytes = null)
    {
        _target = new IPEndPoint(IPAddress.Parse(host == "localhost" ? "127.0.0.1" : host), port);
        _serverReceiveBufferBytes = serverReceiveBufferBytes;
        Port = FreePort.Next();
        Restore();
    }

    public int Port { get; }

    /// <summary>Stops relaying what the server sends (what the client sends still goes through) until <see cref="ResumeDownlink"/>.</summary>
    public void StallDownlink()
    {
        // Stalled already: a relay waiting on the current gate must be the one ResumeDownlink opens.
        if (_downlinkFlowing.Task.IsCompleted)
        {
            _downlinkFlowing = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }
    }

    public void ResumeDownlink() => _downlinkFlowing.TrySetResult();

    private static TaskCompletionSource Flowing()
    {
        var flowing = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        flowing.SetResult();
        return flowing;
    }

    public void Cut()
    {
        _listener?.Stop();
        _listener = null;
        lock (_open)
        {
            foreach (var client in _open)
            {
                client.Client.LingerState = new LingerOption(true, 0);
                client.Dispose();
            }

            _open.Clear();
        }
    }

    public void Restore()
    {
        if (_listener is not null)
        {
            return;
        }

        var listener = new TcpListener(IPAddress.Loopback, Port);
        listener.Server.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        listener.Start();
        _listener = listener;
        _acceptLoop = AcceptAsync(listener);
    }

    private async Task AcceptAsync(TcpListener listener)
    {
        while (!_stopping.IsCancellationRequested)
        {
            TcpClient inbound;
            try
            {
                inbound = await listener.AcceptTcpClientAsync(_stopping.Token);
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException or OperationCanceledException)
            {
                return;
            }

            _ = RelayAsync(inbound);
        }
    }

    private async Task RelayAsync(TcpClient inbound)
    {
        var outbound = new TcpClient();
        if (_serverReceiveBufferBytes is { } bytes)
        {
            outbound.ReceiveBufferSize = bytes;
        }

        lock (_open)
        {
            _open.Add(inbound);
            _open.Add(outbound);
        }

        try
        {
            await outbound.ConnectAsync(_target, _stopping.Token);
            var a = inbound.GetStream();
            var b = outbound.GetStream();
            await Task.WhenAny(a.CopyToAsync(b, _stopping.Token), RelayDownlinkAsync(b, a));
        }
        catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException or OperationCanceledException or InvalidOperationException)
        {
        }
        finally
        {
            // Forget finished relays, or a later Cut would touch disposed clients (their Client is null).
            lock (_open)
            {
                _open.Remove(inbound);
                _open.Remove(outbound);
            }

            inbound.Dispose();
            outbound.Dispose();
        }
    }

    private async Task RelayDownlinkAsync(NetworkStream server, NetworkStream client)
    {
        var buffer = new byte[4096];
        while (true)
        {
            await _downlinkFlowing.Task.WaitAsync(_stopping.Token);
            var read = await server.ReadAsync(buffer, _stopping.Token);
            if (read == 0)
            {
                return;
            }

            await client.WriteAsync(buffer.AsMemory(0, read), _stopping.Token);
        }
    }

    public async ValueTask DisposeAsync()
    {
        _stopping.Cancel();
        Cut();
        await _acceptLoop;
        _stopping.Dispose();
    }
}
