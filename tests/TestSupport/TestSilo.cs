using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using PlayMusic.Hosting;

namespace PlayMusic.TestSupport;

/// <summary>A silo alone (no HTTP front door) on a test database, as <c>src/Silo</c> registers it.</summary>
public sealed class TestSilo(IHost host) : IAsyncDisposable
{
    public IGrainFactory Grains => host.Services.GetRequiredService<IGrainFactory>();

    /// <param name="competitions">Without them, finished rooms cannot hand their scores over.</param>
    /// <param name="services">Replacements registered last, e.g. a fake clock.</param>
    public static async Task<TestSilo> StartAsync(string connectionString, bool competitions = true, Action<IServiceCollection>? services = null)
    {
        var builder = Host.CreateApplicationBuilder();
        foreach (var (key, value) in ApiHost.Settings(connectionString, FreePort.Next(), FreePort.Next()))
        {
            builder.Configuration[key] = value;
        }

        builder.AddPlayMusicDatabase();
        builder.AddPlayMusicSilo();
        if (competitions)
        {
            builder.AddPlayMusicCompetitions();
        }

        services?.Invoke(builder.Services);
        var host = builder.Build();
        await host.StartAsync();
        return new TestSilo(host);
    }

    public async ValueTask DisposeAsync()
    {
        await host.StopAsync();
        host.Dispose();
    }
}
