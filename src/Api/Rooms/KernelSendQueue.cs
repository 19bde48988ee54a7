using System.Net.Sockets;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http.Connections;
using Microsoft.AspNetCore.Http.Connections.Features;
using Microsoft.AspNetCore.SignalR;

namespace PlayMusic.Api.Rooms;

/// <summary>
/// Keeps what sits below the hub's own buffer (<see cref="RoomsExtensions.TransportBufferBytes"/>) small: the kernel's
/// unsent bytes of a game WebSocket and Kestrel's socket-transport output. Then a stalled link makes the fan-out skip
/// ticks after a few seconds instead of once the socket's autotuned send buffer (hundreds of KB) is full: the
/// journey probe's phone whose downlink stalled for 25 s got 25 s of stale ticks, none skipped.
/// <c>TCP_NOTSENT_LOWAT</c> bounds only the bytes not yet sent, so data in flight on a healthy long link is not throttled.
/// </summary>
internal static class KernelSendQueue
{
    public const int UnsentBytes = 4 * 1024;

    /// <summary>What Kestrel's socket transport holds of a connection's output before a write waits (its default is 64 KB).</summary>
    public const int TransportWriteBufferBytes = 16 * 1024;

    /// <summary>Linux's <c>TCP_NOTSENT_LOWAT</c> socket option.</summary>
    private const int TcpNotSentLowAt = 25;

    private static readonly byte[] UnsentBytesValue = BitConverter.GetBytes(UnsentBytes);

    public static void Limit(HubConnectionContext connection)
    {
        if (!OperatingSystem.IsLinux()
            || connection.Features.Get<IHttpTransportFeature>()?.TransportType != HttpTransportType.WebSockets
            || connection.GetHttpContext()?.Features.Get<IConnectionSocketFeature>()?.Socket is not { } socket)
        {
            return;
        }

        try
        {
            socket.SetRawSocketOption((int)SocketOptionLevel.Tcp, TcpNotSentLowAt, UnsentBytesValue);
        }
        catch (SocketException)
        {
            // Not a TCP socket (a test server, a Unix socket): nothing to bound.
        }
    }
}
