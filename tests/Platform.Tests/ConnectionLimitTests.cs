using System.Globalization;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;
using PlayMusic.Api;
using PlayMusic.TestSupport;

namespace PlayMusic.Platform.Tests;

/// <summary>Kestrel's connection cap (<see cref="ConnectionLimits"/>): past it a new connection is closed, the process lives.</summary>
public sealed class ConnectionLimitTests : DatabaseTest
{
    [Fact]
    public async Task A_connection_past_the_cap_is_closed_and_the_held_ones_keep_working()
    {
        await using var host = await ApiHost.StartAsync(Database.ConnectionString, new Dictionary<string, string?> { [ConnectionLimits.Setting] = "2" });
        using var first = await ConnectAsync(host);
        using var second = await ConnectAsync(host);
        Assert.StartsWith("HTTP/1.1 200", await GetHealthAsync(first));
        Assert.StartsWith("HTTP/1.1 200", await GetHealthAsync(second));

        using var third = await ConnectAsync(host);
        Assert.Equal("", await GetHealthAsync(third)); // closed without an answer

        Assert.StartsWith("HTTP/1.1 200", await GetHealthAsync(first));
        first.Dispose();
        await Poll.UntilAsync(async () =>
        {
            using var next = await ConnectAsync(host);
            return (await GetHealthAsync(next)).StartsWith("HTTP/1.1 200", StringComparison.Ordinal);
        }, "a freed place takes a new connection");
    }

    [Theory]
    [InlineData("0")]
    [InlineData("-1")]
    [InlineData("many")]
    public void A_cap_that_is_not_a_positive_whole_number_stops_the_start_naming_the_setting(string value)
    {
        var refused = Assert.Throws<InvalidOperationException>(() => PlayMusicApp.Build([$"--{ConnectionLimits.Setting}={value}"]));
        Assert.Contains(ConnectionLimits.Setting, refused.Message);
    }

    private static async Task<TcpClient> ConnectAsync(ApiHost host)
    {
        var client = new TcpClient();
        await client.ConnectAsync(host.BaseAddress.Host, host.BaseAddress.Port);
        return client;
    }

    /// <summary>The status line and headers of a keep-alive <c>GET /healthz</c>, or "" when the server closed the connection.</summary>
    private static async Task<string> GetHealthAsync(TcpClient client)
    {
        var stream = client.GetStream();
        try
        {
            await stream.WriteAsync(Encoding.ASCII.GetBytes("GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n"));
            // The whole answer (headers, then its Content-Length or chunked body), so the next request reads only its own.
            var received = new List<byte>();
            var buffer = new byte[4096];
            while (true)
            {
                var text = Encoding.ASCII.GetString([.. received]);
                var end = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
                var length = Regex.Match(text, @"Content-Length: (\d+)", RegexOptions.IgnoreCase);
                var complete = end >= 0 && (length.Success
                    ? received.Count >= end + 4 + int.Parse(length.Groups[1].Value, CultureInfo.InvariantCulture)
                    : text.EndsWith("\r\n0\r\n\r\n", StringComparison.Ordinal));
                if (complete)
                {
                    return text;
                }

                var read = await stream.ReadAsync(buffer).AsTask().WaitAsync(TimeSpan.FromSeconds(30));
                if (read == 0)
                {
                    return text;
                }

                received.AddRange(buffer.AsSpan(0, read).ToArray());
            }
        }
        catch (IOException)
        {
            return "";
        }
    }
}
