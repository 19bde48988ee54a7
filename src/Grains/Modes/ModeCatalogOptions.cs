using PlayMusic.Modes;

namespace PlayMusic.Grains.Modes;

/// <summary>The catalog a fresh deployment starts with (configuration section <c>PlayMusic:Modes</c> may replace it).</summary>
public sealed class ModeCatalogOptions
{
    public const int DefaultMaxScorePerSecond = 5000;

    public List<GameMode> Modes { get; set; } =
    [
        new("drift", "Drift", DefaultMaxScorePerSecond, new MultiplayerRules(false, 2, 4, false)),
        new("duet", "Duet", DefaultMaxScorePerSecond, new MultiplayerRules(true, 2, 2, true)),
        new("flight", "Flight", DefaultMaxScorePerSecond, new MultiplayerRules(false, 2, 4, false)),
        new("rhythm", "Rhythm", DefaultMaxScorePerSecond, new MultiplayerRules(false, 2, 4, false)),
        new("runner", "Runner", DefaultMaxScorePerSecond, new MultiplayerRules(true, 2, 4, false)),
    ];
}
