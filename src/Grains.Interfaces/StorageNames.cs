namespace PlayMusic;

/// <summary>
/// Names of the grain storage providers. The silo registers one ADO.NET provider per name, and
/// grains refer to them in <c>[PersistentState]</c>, so both sides share these constants.
/// All providers share one table keyed by state name and grain key (not by grain class), so
/// every grain class must use a state name of its own.
/// </summary>
public static class StorageNames
{
    /// <summary>LiveOps configuration (mode catalog).</summary>
    public const string Config = "config";

    /// <summary>Game rooms, lobbies, matchmaking and the live-room registry.</summary>
    public const string Rooms = "rooms";

    /// <summary>Leaderboards and tournaments.</summary>
    public const string Competitions = "competitions";

    /// <summary>Session and portal analytics grains.</summary>
    public const string Analytics = "analytics";

    /// <summary>Orleans' stream pub-sub registry (the name Orleans looks up by default).</summary>
    public const string PubSub = "PubSubStore";

    public static IReadOnlyList<string> All { get; } = [Config, Rooms, Competitions, Analytics, PubSub];
}
