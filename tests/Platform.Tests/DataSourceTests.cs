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

        await using var dataSource = DatabaseExtensions.CreateDataSource(settings, "test", serverOptions: "-c plan_cache_mode=force_generic_plan -c enable_seqscan=off");
        await using var connection = await dataSource.OpenConnectionAsync();

        Assert.Equal("pm_custom,public", await ShowAsync(connection, "search_path"));
        Assert.Equal("force_generic_plan", await ShowAsync(connection, "plan_cache_mode"));
        Assert.Equal("off", await ShowAsync(connection, "enable_seqscan"));
    }

    [Theory]
    [InlineData(null, DatabaseExtensions.MainPoolSize, 10)]
    [InlineData("Maximum Pool Size=7", 7, 7)]
    [InlineData("maxpoolsize=200", 200, 10)]
    public async Task Pools_are_capped_unless_the_connection_string_sizes_them(string? poolSize, int mainSize, int cappedSize)
    {
        var plain = new NpgsqlConnectionStringBuilder(Database.ConnectionString);
        plain.Remove("Maximum Pool Size");
        var settings = new PlayMusicSettings($"{plain.ConnectionString};{poolSize}", "test", "test", IPAddress.Loopback, 0, 0, Path.GetTempPath());

        await using var main = DatabaseExtensions.CreateDataSource(settings, "main");
        await using var capped = DatabaseExtensions.CreateDataSource(settings, "capped", poolCap: 10);

        Assert.Equal((mainSize, cappedSize), (MaxPoolSize(main), MaxPoolSize(capped)));
    }

    private static int MaxPoolSize(NpgsqlDataSource dataSource) => new NpgsqlConnectionStringBuilder(dataSource.ConnectionString).MaxPoolSize;

    private static async Task<string?> ShowAsync(NpgsqlConnection connection, string setting)
    {
        await using var command = new NpgsqlCommand($"SHOW {setting}", connection);
        return (string?)await command.ExecuteScalarAsync();
    }
}
