using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using PlayMusic.Hosting;
using PlayMusic.TestSupport;

namespace PlayMusic.Platform.Tests;

public sealed class MigrationTests : DatabaseTest
{
    [Fact]
    public async Task Applying_twice_applies_everything_once_and_then_nothing()
    {
        await using var dataSource = Database.CreateDataSource();
        var migrator = new DatabaseMigrator(dataSource, NullLogger<DatabaseMigrator>.Instance);

        var first = await migrator.ApplyAsync();
        var queriesAfterFirst = await Database.ScalarAsync<long>("SELECT count(*) FROM OrleansQuery");
        var second = await migrator.ApplyAsync();

        Assert.Equal(DatabaseMigrator.Migrations.Select(m => m.Version), first);
        Assert.Empty(second);
        Assert.Equal(queriesAfterFirst, await Database.ScalarAsync<long>("SELECT count(*) FROM OrleansQuery"));
        Assert.Equal(first.Count, await Database.ScalarAsync<long>("SELECT count(*) FROM schema_migrations"));
    }

    [Fact]
    public async Task Every_migration_file_is_idempotent_on_its_own()
    {
        await using var dataSource = Database.CreateDataSource();
        await new DatabaseMigrator(dataSource, NullLogger<DatabaseMigrator>.Instance).ApplyAsync();
        var schemaBefore = await SchemaFingerprint(dataSource);

        foreach (var (_, sql) in DatabaseMigrator.Migrations)
        {
            await using var command = dataSource.CreateCommand(sql);
            await command.ExecuteNonQueryAsync();
        }

        Assert.Equal(schemaBefore, await SchemaFingerprint(dataSource));
    }

    [Fact]
    public async Task A_portal_id_that_no_request_could_name_is_refused()
    {
        await using var dataSource = Database.CreateDataSource();
        await new DatabaseMigrator(dataSource, NullLogger<DatabaseMigrator>.Instance).ApplyAsync();

        await dataSource.CreateCommand("INSERT INTO telemetry_portals (portal, display_name) VALUES ('coolmath', 'Coolmath Games')").ExecuteNonQueryAsync();
        var refused = await Assert.ThrowsAsync<PostgresException>(() =>
            dataSource.CreateCommand("INSERT INTO telemetry_portals (portal, display_name) VALUES ('CoolMath', 'Coolmath Games')").ExecuteNonQueryAsync());

        Assert.Equal(PostgresErrorCodes.CheckViolation, refused.SqlState);
    }

    [Fact]
    public async Task Orleans_query_contract_has_every_key_the_providers_ask_for()
    {
        await using var dataSource = Database.CreateDataSource();
        await new DatabaseMigrator(dataSource, NullLogger<DatabaseMigrator>.Instance).ApplyAsync();
        var keys = new List<string>();
        await using (var command = dataSource.CreateCommand("SELECT QueryKey FROM OrleansQuery"))
        await using (var reader = await command.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                keys.Add(reader.GetString(0));
            }
        }

        string[] required =
        [
            "UpdateIAmAlivetimeKey", "InsertMembershipVersionKey", "InsertMembershipKey", "UpdateMembershipKey",
            "MembershipReadRowKey", "MembershipReadAllKey", "DeleteMembershipTableEntriesKey", "GatewaysQueryKey",
            "CleanupDefunctSiloEntriesKey", "WriteToStorageKey", "ReadFromStorageKey", "ClearStorageKey",
            "UpsertReminderRowKey", "ReadReminderRowsKey", "ReadReminderRowKey", "ReadRangeRows1Key",
            "ReadRangeRows2Key", "DeleteReminderRowKey", "DeleteReminderRowsKey",
        ];
        Assert.Empty(required.Except(keys));
    }

    private static async Task<string> SchemaFingerprint(Npgsql.NpgsqlDataSource dataSource)
    {
        await using var command = dataSource.CreateCommand("""
            SELECT string_agg(table_name || '.' || column_name || ':' || data_type, ',' ORDER BY table_name, column_name)
              || (SELECT string_agg(indexname, ',' ORDER BY indexname) FROM pg_indexes WHERE schemaname = 'public')
              || (SELECT string_agg(querykey || md5(querytext), ',' ORDER BY querykey) FROM OrleansQuery)
            FROM information_schema.columns WHERE table_schema = 'public'
            """);
        return (string)(await command.ExecuteScalarAsync())!;
    }
}
