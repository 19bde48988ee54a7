using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using PlayMusic.Api.Telemetry;
using PlayMusic.TestSupport;

namespace PlayMusic.Telemetry.Tests;

/// <summary>
/// The writer's connections keep the generic plan a statement gets at its first execution, which on a new
/// deployment is made while the tables are empty. Its own app and database, so the tables are empty here.
/// </summary>
public sealed class WriterPlanTests(ApiFixture fixture) : IClassFixture<ApiFixture>
{
    private const int StoredSessions = 20_000;
    private const int Reported = 50;

    private readonly ApiHost _host = fixture.Host;
    private readonly TestDatabase _database = fixture.Database;

    /// <summary>Each statement's arguments: {0} is an array of session ids, {1} its length.</summary>
    private static readonly Dictionary<string, (string Sql, string Arguments)> Statements = new()
    {
        [nameof(TelemetryWriter.PerfSql)] = (TelemetryWriter.PerfSql,
            "{0}, array_fill(1, ARRAY[{1}]), array_fill(1, ARRAY[{1}]), array_fill(1, ARRAY[{1}]), array_fill(1, ARRAY[{1}]), array_fill(1, ARRAY[{1}]), array_fill(now(), ARRAY[{1}])"),
        [nameof(TelemetryWriter.EndsSql)] = (TelemetryWriter.EndsSql,
            "{0}, array_fill(1::bigint, ARRAY[{1}]), array_fill(1::bigint, ARRAY[{1}]), array_fill(false, ARRAY[{1}]), array_fill(now(), ARRAY[{1}])"),
        // One player's sessions, so the look-up of the player's first one has many to choose from.
        [nameof(TelemetryWriter.SessionFlagsSql)] = (TelemetryWriter.SessionFlagsSql,
            "{0}, {0}, array_fill('player-1'::text, ARRAY[{1}]), array_fill('song-1'::text, ARRAY[{1}]), array_fill('y8'::text, ARRAY[{1}]), array_fill(now(), ARRAY[{1}]), array_fill(NULL::text, ARRAY[{1}]), array_fill(NULL::text, ARRAY[{1}])"),
    };

    [Theory]
    [InlineData(nameof(TelemetryWriter.PerfSql))]
    [InlineData(nameof(TelemetryWriter.EndsSql))]
    [InlineData(nameof(TelemetryWriter.SessionFlagsSql))]
    public async Task A_statement_planned_on_empty_tables_reads_one_session_row_per_probe_once_there_are_many(string statement)
    {
        var (sql, arguments) = Statements[statement];
        var name = statement.ToLowerInvariant();
        // A connection of the writer's own pool: its plan settings are the point.
        var writerSource = _host.App.Services.GetRequiredKeyedService<NpgsqlDataSource>(TelemetryWriter.DataSourceKey);
        await using var connection = await writerSource.OpenConnectionAsync();
        Assert.Equal(0, await _database.ScalarAsync<long>("SELECT count(*) FROM telemetry_sessions"));
        await ExecuteAsync(connection, $"PREPARE {name} AS {sql}");
        try
        {
            await ExecuteAsync(connection, $"BEGIN; EXECUTE {name}({string.Format(arguments, "ARRAY[gen_random_uuid()]", 1)}); ROLLBACK");

            await ExecuteAsync(connection, $"""
                INSERT INTO telemetry_sessions (session_id, load_id, player_id, display_name, game_id, mode, portal, started_at)
                SELECT gen_random_uuid(), gen_random_uuid(), 'player-' || (n % 400), 'P', 'song-' || (n % 5), 'runner', 'y8', now()
                FROM generate_series(1, {StoredSessions}) AS n
                """);
            var sessionIds = await ScalarAsync(connection, $"SELECT array_agg(session_id)::text FROM (SELECT session_id FROM telemetry_sessions LIMIT {Reported}) s");
            var plan = await ScalarAsync(connection,
                $"EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE {name}({string.Format(arguments, $"'{sessionIds}'::uuid[]", Reported)})");

            var sessionScans = Nodes(JsonDocument.Parse(plan).RootElement[0].GetProperty("Plan"))
                .Where(node => node.TryGetProperty("Relation Name", out var relation) && relation.GetString() == "telemetry_sessions")
                .ToList();
            Assert.NotEmpty(sessionScans);
            // One probe per reported session reads one row; a scan of the table reads all of them.
            Assert.All(sessionScans, node => Assert.True(node.GetProperty("Actual Rows").GetDouble() <= 1,
                $"{node.GetProperty("Node Type")} read {node.GetProperty("Actual Rows")} rows of telemetry_sessions per loop: {plan}"));
        }
        finally
        {
            await ExecuteAsync(connection, $"DEALLOCATE {name}");
            // Emptied to no pages, as the next case needs it: a table of deleted rows keeps its size, which the planner reads.
            await ExecuteAsync(connection, "TRUNCATE telemetry_perf, telemetry_session_ends, telemetry_sessions");
        }
    }

    private static IEnumerable<JsonElement> Nodes(JsonElement node) =>
        node.TryGetProperty("Plans", out var children)
            ? children.EnumerateArray().SelectMany(Nodes).Prepend(node)
            : [node];

    private static async Task ExecuteAsync(NpgsqlConnection connection, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }

    private static async Task<string> ScalarAsync(NpgsqlConnection connection, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        return (string)(await command.ExecuteScalarAsync())!;
    }
}
