using PlayMusic.Modes;

namespace PlayMusic.Grains.Modes;

/// <summary>
/// The catalog a fresh deployment starts with; LiveOps changes it at run time (<c>PUT /api/admin/config/modes/{id}</c>,
/// stored by <see cref="ModeCatalogGrain"/>). Not bound to configuration: a bound list would be appended to these,
/// not replace them, and a duplicate id would never be found.
/// </summary>
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
