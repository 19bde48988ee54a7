using System.Data.Common;
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
        builder.Services.AddSingleton(_ => CreateDataSource(settings, "playmusic"));
        builder.Services.AddSingleton<DatabaseMigrator>();
        builder.Services.AddHostedService<MigrationHostedService>();
        return builder;
    }

    /// <summary>
    /// Connections of the process's main pool (Orleans providers and the project's tables) unless the connection
    /// string names a pool size. Npgsql's default of 100 per pool let one burst of competition writes take every
    /// connection a default PostgreSQL allows (100), and the idle ones stay for minutes: other pools, other nodes
    /// and operators were then refused. Past the cap, calls queue for a free connection.
    /// </summary>
    public const int MainPoolSize = 40;

    private static readonly string[] PoolSizeKeywords = ["Maximum Pool Size", "MaxPoolSize"];

    /// <summary>
    /// A pool on the configured database: as many connections as the connection string's <c>Maximum Pool Size</c>
    /// where it names one, else <see cref="MainPoolSize"/>, and at most <paramref name="poolCap"/> when given.
    /// <paramref name="serverOptions"/> (<c>-c name=value …</c>) are added to any the connection string already has
    /// and apply to every connection of the pool.
    /// </summary>
    public static NpgsqlDataSource CreateDataSource(PlayMusicSettings settings, string name, int? poolCap = null, string? serverOptions = null)
    {
        var dataSource = new NpgsqlDataSourceBuilder(settings.ConnectionString) { Name = name };
        var given = new DbConnectionStringBuilder { ConnectionString = settings.ConnectionString };
        var size = PoolSizeKeywords.Any(given.ContainsKey) ? dataSource.ConnectionStringBuilder.MaxPoolSize : MainPoolSize;
        dataSource.ConnectionStringBuilder.MaxPoolSize = Math.Min(size, poolCap ?? size);
        // No code on these pools leaves session state behind (no SET, LISTEN, temp tables; the migrator
        // releases its advisory lock itself), so the reset statements Npgsql would otherwise send with
        // every reuse of a pooled connection are pure cost: parsed and run once per board commit.
        dataSource.ConnectionStringBuilder.NoResetOnClose = true;
        if (serverOptions is not null)
        {
            dataSource.ConnectionStringBuilder.Options = $"{dataSource.ConnectionStringBuilder.Options} {serverOptions}".Trim();
        }

        return dataSource.Build();
    }

    private sealed class MigrationHostedService(DatabaseMigrator migrator) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken) => migrator.ApplyAsync(cancellationToken);

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
