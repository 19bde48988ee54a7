using Npgsql;

namespace PlayMusic.Api.Telemetry;

/// <summary>Where a player plays, as the server resolved it for their sessions (PROTOCOL §3), not as they claim it.</summary>
public sealed class PlayerPortals(NpgsqlDataSource dataSource)
{
    /// <summary>The portal of the player's latest session, or null before their first one (one probe of the player index).</summary>
    public async Task<string?> LatestAsync(string playerId)
    {
        await using var command = dataSource.CreateCommand(
            "SELECT portal FROM telemetry_sessions WHERE player_id = $1 ORDER BY started_at DESC, session_id DESC LIMIT 1");
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = playerId });
        return (string?)await command.ExecuteScalarAsync();
    }
}
