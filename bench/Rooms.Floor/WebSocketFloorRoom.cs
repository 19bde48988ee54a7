using System.Buffers.Binary;
using System.Net.WebSockets;

namespace PlayMusic.Rooms.Floor;

/// <summary>A room of the raw WebSocket floor: three sockets and the latest input of each player seat.</summary>
sealed class WebSocketFloorRoom
{
    /// <summary>The size of the real hub's two-seat Tick under MessagePack; it starts with the tick number and both seats' inputs.</summary>
    public const int TickBytes = 274;

    /// <summary>What the tick carries of each seat's latest input (the driver's input frames start with their seq).</summary>
    private const int InputBytes = 56;

    private readonly WebSocket?[] _sockets = new WebSocket?[3];
    private readonly byte[][] _latest = [new byte[InputBytes], new byte[InputBytes]];
    private readonly Sender[] _senders = [new(), new(), new()];
    private long _tick;

    public async Task ServeAsync(int seat, WebSocket socket, CancellationToken aborted)
    {
        _sockets[seat] = socket;
        var buffer = new byte[1024];
        try
        {
            while (socket.State == WebSocketState.Open)
            {
                var received = await socket.ReceiveAsync(buffer.AsMemory(), aborted);
                if (received.MessageType == WebSocketMessageType.Close)
                {
                    break;
                }

                if (seat < 2)
                {
                    lock (_latest[seat])
                    {
                        buffer.AsSpan(0, Math.Min(InputBytes, received.Count)).CopyTo(_latest[seat]);
                    }
                }
            }
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException)
        {
        }
        finally
        {
            _sockets[seat] = null;
        }
    }

    public void Tick()
    {
        var tick = ++_tick;
        for (var i = 0; i < _sockets.Length; i++)
        {
            if (_sockets[i] is { State: WebSocketState.Open } socket)
            {
                _senders[i].Send(socket, tick, _latest);
            }
        }
    }

    /// <summary>One frame in flight per connection; a connection still sending when the next tick comes skips it.</summary>
    private sealed class Sender
    {
        private readonly byte[] _frame = new byte[TickBytes];
        private int _busy;

        public void Send(WebSocket socket, long tick, byte[][] latest)
        {
            if (Interlocked.Exchange(ref _busy, 1) == 1)
            {
                return;
            }

            BinaryPrimitives.WriteInt64LittleEndian(_frame, tick);
            for (var seat = 0; seat < latest.Length; seat++)
            {
                lock (latest[seat])
                {
                    latest[seat].CopyTo(_frame.AsSpan(8 + seat * InputBytes));
                }
            }

            _ = SendAsync(socket);
        }

        private async Task SendAsync(WebSocket socket)
        {
            try
            {
                await socket.SendAsync(_frame.AsMemory(), WebSocketMessageType.Binary, true, CancellationToken.None);
            }
            catch (Exception ex) when (ex is WebSocketException or OperationCanceledException or ObjectDisposedException)
            {
            }
            finally
            {
                Volatile.Write(ref _busy, 0);
            }
        }
    }
}
