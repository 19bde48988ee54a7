using System.Net;
using System.Net.Sockets;

namespace PlayMusic.TestSupport;

public static class FreePort
{
    // Below Linux' ephemeral range (32768-60999): an outbound connection or a port-0 bind elsewhere in the
    // test run cannot take the port between this check and the bind of the process it is meant for
    // (a child process takes a second or two to get there).
    private const int First = 20_000;
    private const int EphemeralStart = 32_768;

    private static readonly HashSet<int> HandedOut = [];

    /// <summary>A TCP port free at the time of asking and never handed out before in this process.</summary>
    public static int Next()
    {
        lock (HandedOut)
        {
            while (true)
            {
                var port = Random.Shared.Next(First, EphemeralStart);
                if (!HandedOut.Add(port))
                {
                    continue;
                }

                try
                {
                    using var listener = new TcpListener(IPAddress.Loopback, port);
                    listener.Start();
                    return port;
                }
                catch (SocketException)
                {
                    // In use: try another.
                }
            }
        }
    }
}
