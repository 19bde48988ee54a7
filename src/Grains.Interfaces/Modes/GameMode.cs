namespace PlayMusic.Modes;

[GenerateSerializer, Immutable]
public sealed record MultiplayerRules(bool Enabled, int MinPlayers, int MaxPlayers, bool Coop);

/// <summary>One entry of the LiveOps mode catalog (PROTOCOL §5).</summary>
[GenerateSerializer, Immutable]
public sealed record GameMode(string Id, string Name, int MaxScorePerSecond, MultiplayerRules Multiplayer);

/// <summary>The whole catalog; <see cref="Version"/> grows with every change so nodes can cache it.</summary>
[GenerateSerializer, Immutable]
public sealed record ModeCatalog(long Version, IReadOnlyList<GameMode> Modes)
{
    public GameMode? Find(string id) => Modes.FirstOrDefault(m => m.Id == id);
}
