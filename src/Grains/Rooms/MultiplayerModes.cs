using PlayMusic.Modes;
using PlayMusic.Rooms;

namespace PlayMusic.Grains.Rooms;

/// <summary>The catalog's verdict on playing a mode together, as rooms and matchmakers refuse it.</summary>
internal static class MultiplayerModes
{
    public static async Task<GameMode> RequireAsync(IGrainFactory grains, string modeId)
    {
        var catalog = await grains.GetGrain<IModeCatalogGrain>(IModeCatalogGrain.Key).GetAsync();
        var mode = catalog.Find(modeId)
            ?? throw new RoomException(RoomErrors.InvalidArgument, $"mode {modeId} is not in the mode catalog");
        return mode.Multiplayer.Enabled
            ? mode
            : throw new RoomException(RoomErrors.ModeNotMultiplayer, $"mode {mode.Id} is not enabled for multiplayer");
    }

    /// <summary>
    /// The seats a room of the mode gets now: the requested count, or the mode's maximum when none is asked; a count
    /// outside the mode's current range is INVALID_ARGUMENT.
    /// </summary>
    public static int SeatsFor(GameMode mode, int? requested)
    {
        var rules = mode.Multiplayer;
        var seats = requested ?? rules.MaxPlayers;
        return seats >= rules.MinPlayers && seats <= rules.MaxPlayers
            ? seats
            : throw new RoomException(RoomErrors.InvalidArgument, $"maxPlayers must be {rules.MinPlayers}..{rules.MaxPlayers} for mode {mode.Id}");
    }
}
