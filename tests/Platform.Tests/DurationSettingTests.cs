using Microsoft.Extensions.Configuration;
using PlayMusic.Hosting;

namespace PlayMusic.Platform.Tests;

/// <summary>Duration settings (seat grace, leaderboard compaction) are checked when the host is built, not by the first grain that arms a timer with them.</summary>
public sealed class DurationSettingTests
{
    private const string Name = "PLAYMUSIC_LEADERBOARD_COMPACT_SECONDS";

    private static IConfiguration With(string? value) =>
        new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { [Name] = value }).Build();

    [Theory]
    [InlineData("0")]
    [InlineData("-5")]
    [InlineData("NaN")]
    [InlineData("1e9")]
    [InlineData("soon")]
    public void A_value_that_is_not_a_usable_period_stops_the_start_naming_the_setting(string value)
    {
        var refused = Assert.Throws<InvalidOperationException>(() => PlayMusicSettings.Seconds(With(value), Name, 30));
        Assert.Contains(Name, refused.Message);
    }

    [Fact]
    public void Fractions_are_kept_and_absence_is_the_default()
    {
        Assert.Equal(TimeSpan.FromMilliseconds(1500), PlayMusicSettings.Seconds(With("1.5"), Name, 30));
        Assert.Equal(TimeSpan.FromSeconds(30), PlayMusicSettings.Seconds(With(null), Name, 30));
    }
}
