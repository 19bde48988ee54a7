using PlayMusic.TestSupport;

namespace PlayMusic.Cluster.Tests;

/// <summary>Failure case 4 of the scale-out issue: a crashed silo's row does not stay in the membership table.</summary>
public sealed class MembershipCleanupTests : DatabaseTest
{
    [Fact]
    public async Task Row_of_a_SIGKILLed_silo_is_declared_dead_and_then_removed()
    {
        // The silo comes back on the same endpoint, as a restarted pod or ./run.sh does: the new
        // generation declares the old one dead, and the sweep then deletes the dead row.
        var crashedPort = FreePort.Next();
        await using (var crashed = await ApiProcess.StartAsync(SiloSettings(crashedPort), "PlayMusic.Silo", "Silo"))
        {
            crashed.Kill();
        }

        Assert.Equal(1L, await Database.ScalarAsync<long>($"SELECT count(*) FROM OrleansMembershipTable WHERE Port = {crashedPort} AND Status = 3"));

        await using var restarted = await ApiProcess.StartAsync(SweepingSiloSettings(crashedPort), "PlayMusic.Silo", "Silo");

        // Orleans sweeps dead rows when membership changes; one more silo joining is such a change.
        await using var joiner = await ApiProcess.StartAsync(SweepingSiloSettings(FreePort.Next()), "PlayMusic.Silo", "Silo");

        await Poll.UntilAsync(
            async () => await Database.ScalarAsync<long>($"SELECT count(*) FROM OrleansMembershipTable WHERE Port = {crashedPort} AND Status <> 3") == 0,
            "the crashed silo's membership row is cleaned up",
            TimeSpan.FromSeconds(60));
        Assert.Equal(2L, await Database.ScalarAsync<long>("SELECT count(*) FROM OrleansMembershipTable WHERE Status = 3"));
        Assert.Equal(0L, await Database.ScalarAsync<long>("SELECT count(*) FROM OrleansMembershipTable WHERE Status <> 3"));
    }

    /// <summary>Keeps no dead rows (the defaults keep 16, and none younger than Orleans' minimum retention).</summary>
    private Dictionary<string, string?> SweepingSiloSettings(int siloPort)
    {
        var settings = SiloSettings(siloPort);
        settings["Orleans__Membership__MaxDefunctSiloEntries"] = "0";
        settings["Orleans__Membership__DefunctSiloMinimumRetention"] = "00:00:01";
        return settings;
    }

    private Dictionary<string, string?> SiloSettings(int siloPort)
    {
        var settings = ApiHost.Settings(Database.ConnectionString, siloPort, FreePort.Next());
        settings["PLAYMUSIC_URLS"] = $"http://127.0.0.1:{FreePort.Next()}";
        settings["Logging__LogLevel__Default"] = "Warning";
        settings.Remove("Logging:LogLevel:Default");
        settings.Remove("Logging:LogLevel:Orleans");
        return settings;
    }
}
