using System.Reflection;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace PlayMusic.Hosting;

/// <summary>
/// Applies the embedded <c>Migrations/*.sql</c> files in name order, each once, each in its own
/// transaction. An advisory lock serialises processes that start together (several silos), and
/// every file is itself idempotent, so a half-recorded run is safe to repeat.
/// </summary>
public sealed class DatabaseMigrator(NpgsqlDataSource dataSource, ILogger<DatabaseMigrator> logger)
{
    private const long MigrationLockKey = 0x706C61796D757369; // "playmusi"
    private const string ResourcePrefix = "Migrations.";

    /// <summary>PostgreSQL 15: the grain-storage migration's unique index uses NULLS NOT DISTINCT.</summary>
    private const int MinimumMajorVersion = 15;

    public static IReadOnlyList<(string Version, string Sql)> Migrations { get; } = LoadMigrations();

    /// <summary>Returns the versions applied by this call (empty when the database was current).</summary>
    public async Task<IReadOnlyList<string>> ApplyAsync(CancellationToken cancellationToken = default)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        if (connection.PostgreSqlVersion.Major < MinimumMajorVersion)
        {
            throw new InvalidOperationException($"PostgreSQL {MinimumMajorVersion} or later is required; this server is {connection.ServerVersion}");
        }

        await Execute(connection, null, $"SELECT pg_advisory_lock({MigrationLockKey})", cancellationToken);
        try
        {
            await Execute(connection, null, """
                CREATE TABLE IF NOT EXISTS schema_migrations (
                    version text PRIMARY KEY,
                    applied_at timestamptz NOT NULL DEFAULT now())
                """, cancellationToken);

            var applied = new HashSet<string>();
            await using (var read = new NpgsqlCommand("SELECT version FROM schema_migrations", connection))
            await using (var reader = await read.ExecuteReaderAsync(cancellationToken))
            {
                while (await reader.ReadAsync(cancellationToken))
                {
                    applied.Add(reader.GetString(0));
                }
            }

            var newlyApplied = new List<string>();
            foreach (var (version, sql) in Migrations.Where(m => !applied.Contains(m.Version)))
            {
                await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
                await Execute(connection, transaction, sql, cancellationToken);
                await using var record = new NpgsqlCommand("INSERT INTO schema_migrations (version) VALUES ($1)", connection, transaction);
                record.Parameters.AddWithValue(version);
                await record.ExecuteNonQueryAsync(cancellationToken);
                await transaction.CommitAsync(cancellationToken);
                logger.LogInformation("Applied migration {Version}", version);
                newlyApplied.Add(version);
            }

            return newlyApplied;
        }
        finally
        {
            await Execute(connection, null, $"SELECT pg_advisory_unlock({MigrationLockKey})", CancellationToken.None);
        }
    }

    private static async Task Execute(NpgsqlConnection connection, NpgsqlTransaction? transaction, string sql, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(sql, connection, transaction);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    private static List<(string Version, string Sql)> LoadMigrations()
    {
        var assembly = typeof(DatabaseMigrator).Assembly;
        return assembly.GetManifestResourceNames()
            .Where(n => n.StartsWith(ResourcePrefix, StringComparison.Ordinal) && n.EndsWith(".sql", StringComparison.Ordinal))
            .Order(StringComparer.Ordinal)
            .Select(n => (n[ResourcePrefix.Length..^".sql".Length], Read(assembly, n)))
            .ToList();
    }

    private static string Read(Assembly assembly, string name)
    {
        using var stream = assembly.GetManifestResourceStream(name)!;
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }
}
