using System.Net;
using Npgsql;
using PlayMusic.TestSupport;

namespace PlayMusic.Platform.Tests;

public sealed class ReadinessTests : DatabaseTest
{
    [Fact]
    public async Task Readyz_goes_503_while_the_database_is_unreachable_and_back_to_200_after()
    {
        var direct = new NpgsqlConnectionStringBuilder(Database.ConnectionString);
        await using var proxy = new TcpProxy(direct.Host!, direct.Port);
        var viaProxy = new NpgsqlConnectionStringBuilder(Database.ConnectionString) { Port = proxy.Port, Timeout = 3 }.ConnectionString;
        await using var host = await ApiHost.StartAsync(viaProxy);

        Assert.Equal(HttpStatusCode.OK, (await host.Http.GetAsync("/readyz")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await host.Http.GetAsync("/healthz")).StatusCode);

        proxy.Cut();
        await Poll.UntilAsync(async () => (await host.Http.GetAsync("/readyz")).StatusCode == HttpStatusCode.ServiceUnavailable, "readyz reports 503");
        Assert.Equal(HttpStatusCode.OK, (await host.Http.GetAsync("/healthz")).StatusCode);

        proxy.Restore();
        await Poll.UntilAsync(async () => (await host.Http.GetAsync("/readyz")).StatusCode == HttpStatusCode.OK, "readyz is back to 200");
    }
}
