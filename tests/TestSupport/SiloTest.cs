using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace PlayMusic.TestSupport;

/// <summary>A test class whose every test gets a fresh database and a silo alone on it (no HTTP front door).</summary>
public abstract class SiloTest : IAsyncLifetime
{
    protected TestDatabase Database { get; private set; } = null!;

    protected TestSilo Silo { get; private set; } = null!;

    protected IGrainFactory Grains => Silo.Grains;

    public virtual async Task InitializeAsync()
    {
        Database = await TestDatabase.CreateAsync();
        Silo = await TestSilo.StartAsync(Database.ConnectionString, services: ConfigureSilo);
    }

    public async Task DisposeAsync()
    {
        await Silo.DisposeAsync();
        await Database.DisposeAsync();
    }

    /// <summary>Replacements registered last on every silo the test starts (a fake clock, a flaky storage).</summary>
    protected virtual void ConfigureSilo(IServiceCollection services)
    {
    }

    /// <summary>A new silo on the same database: grains reactivate from their stored state.</summary>
    protected async Task RestartSiloAsync()
    {
        await Silo.DisposeAsync();
        Silo = await TestSilo.StartAsync(Database.ConnectionString, services: ConfigureSilo);
    }
}
