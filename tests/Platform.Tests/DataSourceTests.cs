using System.Net;
using Npgsql;
using PlayMusic.Hosting;
using PlayMusic.TestSupport;

namespace PlayMusic.Platform.Tests;

public sealed class DataSourceTests : DatabaseTest
{
    [Fact]
    public async Task Server_options_of_a_pool_are_added_to_those_of_the_connection_string()
    {
        var connectionString = new NpgsqlConnectionStringBuilder(Database.ConnectionString) { Options = "-c search_path=pm_custom,public" }.ConnectionString;
        var settings = new PlayMusicSettings(connectionString, "test", "test", IPAddress.Loopback, 0, 0, Path.GetTempPath());

        await using var dataSource = DatabaseExtensions.CreateDataSource(settings, "test", "-c plan_cache_mode=force_generic_plan -c enable_seqscan=off");
        await using var connection = await dataSource.OpenConnectionAsync();

        Assert.Equal("pm_custom,public", await ShowAsync(connection, "search_path"));
        Assert.Equal("force_generic_plan", await ShowAsync(connection, "plan_cache_mode"));
        Assert.Equal("off", await ShowAsync(connection, "enable_seqscan"));
    }

    private static async Task<string?> ShowAsync(NpgsqlConnection connection, string setting)
    {
        await using var command = new NpgsqlCommand($"SHOW {setting}", connection);
        return (string?)await command.ExecuteScalarAsync();
    }
}
