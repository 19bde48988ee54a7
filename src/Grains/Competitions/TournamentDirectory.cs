using Npgsql;
using PlayMusic.Competitions;

namespace PlayMusic.Grains.Competitions;

/// <summary>Read-side queries over the <c>tournaments</c> table (the grains' own rows).</summary>
public sealed class TournamentDirectory(NpgsqlDataSource dataSource)
{
    public const int MaxListed = 200;

    /// <summary>
    /// Tournaments that are not cancelled, most relevant first: live ones ending soonest, then upcoming ones
    /// starting soonest, then ended ones, the latest first (so years of past cups never hide what is on
    /// now or next). <paramref name="status"/> (upcoming/live/ended)
    /// is judged by the clock, so the list is exact even if a grain's timer has not fired yet;
    /// <paramref name="portal"/> keeps those open to that portal: scoped to it, or not scoped at all.
    /// </summary>
    public async Task<IReadOnlyList<Tournament>> ListAsync(string? status, string? portal, long now)
    {
        var window = status switch
        {
            TournamentStatus.Upcoming => "AND t.starts_at > $1",
            TournamentStatus.Live => "AND t.starts_at <= $1 AND t.ends_at > $1",
            TournamentStatus.Ended => "AND t.ends_at <= $1",
            _ => "",
        };
        await using var command = dataSource.CreateCommand($"""
            SELECT t.id, t.title, t.game_id, t.mode, t.starts_at, t.ends_at, t.portal, t.prize, t.max_attempts,
                   (SELECT count(*) FROM tournament_entrants e WHERE e.tournament_id = t.id)::int
            FROM tournaments t
            WHERE t.status <> 'cancelled' {window} AND ($2::text IS NULL OR t.portal IS NULL OR t.portal = $2)
            ORDER BY CASE WHEN t.starts_at > $1 THEN 1 WHEN t.ends_at > $1 THEN 0 ELSE 2 END,
                     CASE WHEN t.starts_at > $1 THEN t.starts_at WHEN t.ends_at > $1 THEN t.ends_at ELSE -t.ends_at END,
                     t.id
            LIMIT {MaxListed}
            """);
        command.Parameters.AddWithValue(now);
        command.Parameters.AddWithValue(NpgsqlTypes.NpgsqlDbType.Text, (object?)portal ?? DBNull.Value);
        var list = new List<Tournament>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            var (startsAt, endsAt) = (reader.GetInt64(4), reader.GetInt64(5));
            list.Add(new Tournament(
                reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetString(3), startsAt, endsAt,
                TournamentStatus.At(startsAt, endsAt, now),
                reader.IsDBNull(6) ? null : reader.GetString(6), reader.IsDBNull(7) ? null : reader.GetString(7),
                reader.IsDBNull(8) ? null : reader.GetInt32(8), reader.GetInt32(9)));
        }

        return list;
    }

    /// <summary>Ids of the tournaments the player joined that are not cancelled and have not ended by <paramref name="now"/>.</summary>
    public async Task<IReadOnlyList<string>> JoinedOpenIdsAsync(string playerId, long now)
    {
        await using var command = dataSource.CreateCommand("""
            SELECT t.id FROM tournament_entrants e JOIN tournaments t ON t.id = e.tournament_id
            WHERE e.player_id = $1 AND t.status <> 'cancelled' AND t.ends_at > $2
            """);
        command.Parameters.AddWithValue(playerId);
        command.Parameters.AddWithValue(now);
        return await IdsAsync(command, CancellationToken.None);
    }

    /// <summary>Ids of tournaments whose stored status is not final: those whose lifecycle timer must be running.</summary>
    public async Task<IReadOnlyList<string>> OpenIdsAsync(CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand("SELECT id FROM tournaments WHERE status IN ('upcoming', 'live')");
        return await IdsAsync(command, cancellationToken);
    }

    private static async Task<IReadOnlyList<string>> IdsAsync(NpgsqlCommand command, CancellationToken cancellationToken)
    {
        var ids = new List<string>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            ids.Add(reader.GetString(0));
        }

        return ids;
    }
}
