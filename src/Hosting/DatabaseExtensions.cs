using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Npgsql;

namespace PlayMusic.Hosting;

public static class DatabaseExtensions
{
    /// <summary>
    /// Registers the one shared <see cref="NpgsqlDataSource"/> and applies migrations when the host
    /// starts. Call before <see cref="OrleansExtensions.AddPlayMusicSilo"/>: hosted services start in
    /// registration order, and the silo needs the Orleans tables.
    /// </summary>
    public static IHostApplicationBuilder AddPlayMusicDatabase(this IHostApplicationBuilder builder)
    {
        var settings = PlayMusicSettings.From(builder.Configuration);
        builder.Services.AddSingleton(settings);
        builder.Services.AddSingleton(_ =>
        {
            var dataSource = new NpgsqlDataSourceBuilder(settings.ConnectionString) { Name = "playmusic" };
            // No code on this pool leaves session state behind (no SET, LISTEN, temp tables; the migrator
            // releases its advisory lock itself), so the reset statements Npgsql would otherwise send with
            // every reuse of a pooled connection are pure cost: parsed and run once per board commit.
            dataSource.ConnectionStringBuilder.NoResetOnClose = true;
            return dataSource.Build();
        });
        builder.Services.AddSingleton<DatabaseMigrator>();
        builder.Services.AddHostedService<MigrationHostedService>();
        return builder;
    }

    private sealed class MigrationHostedService(DatabaseMigrator migrator) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken) => migrator.ApplyAsync(cancellationToken);

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
