using System.Diagnostics;
using PlayMusic.TestSupport;

namespace PlayMusic.Rooms.Tests;

/// <summary>
/// The hub through the official <c>@microsoft/signalr</c> JavaScript client in Node (tests/JsClient,
/// installed by test.sh with <c>npm ci</c>): what a browser engine sends, numbers encoded the
/// JavaScript way, fire-and-forget inputs, errors and payloads as that client surfaces them.
/// </summary>
public sealed class OfficialJsClientTests(RoomHostFixture fixture) : IClassFixture<RoomHostFixture>
{
    private static readonly string ClientFolder = Path.Combine(RepositoryPaths.Root, "tests", "JsClient");

    [Theory]
    [InlineData("json", "WebSockets")]
    [InlineData("msgpack", "WebSockets")]
    [InlineData("json", "ServerSentEvents")]  // the JS client's fallbacks when a proxy blocks WebSockets
    [InlineData("msgpack", "LongPolling")]    // (server-sent events cannot carry MessagePack)
    public async Task Every_room_flow_works_through_the_official_javascript_client(string protocol, string transport)
    {
        Assert.True(Directory.Exists(Path.Combine(ClientFolder, "node_modules", "@microsoft", "signalr")),
            $"the JavaScript client is not installed: run `npm ci` in {ClientFolder} (test.sh does)");

        var info = new ProcessStartInfo("node", ["rooms-check.mjs", fixture.Host.BaseAddress.ToString().TrimEnd('/'), protocol, transport])
        {
            WorkingDirectory = ClientFolder,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var node = Process.Start(info) ?? throw new InvalidOperationException("could not start node");
        var output = node.StandardOutput.ReadToEndAsync();
        var errors = node.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        try
        {
            await node.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            node.Kill(entireProcessTree: true);
            throw;
        }

        var report = await output + await errors;
        Assert.True(node.ExitCode == 0, report);
        Assert.Contains($"{protocol} over {transport}: all checks passed", report);
        Assert.DoesNotContain("FAIL", report);
    }
}
