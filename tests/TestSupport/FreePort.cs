using System.Net;
using System.Net.Sockets;

namespace PlayMusic.TestSupport;

public static class FreePort
{
    /// <summary>A TCP port free at the time of asking (the OS picks it, so parallel tests don't collide).</summary>
    public static int Next()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
