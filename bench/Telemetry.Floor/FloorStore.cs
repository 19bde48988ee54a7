using System.Threading.Channels;
using Npgsql;
using NpgsqlTypes;

namespace PlayMusic.Telemetry.Floor;

/// <summary>How much the floor stores before it answers.</summary>
public enum FloorStoreKind
{
    /// <summary>Nothing: the HTTP path alone.</summary>
    None,

    /// <summary>One row per commit holding every body of the batch: the cheapest durable append.</summary>
    Log,

    /// <summary>One row per event (kind, session, body) into a table with no index, by binary COPY.</summary>
    Rows,
}

/// <summary>
/// Group commit as the real writer does it (one batch in flight, up to 1,000 requests, each answered
/// only after its batch's commit, default durability), minus everything the contract asks of the rows.
/// </summary>
public sealed class FloorStore(NpgsqlDataSource dataSource, FloorStoreKind kind)
{
    private const int MaxBatch = 1000;

    private readonly Channel<Pending> _queue = Channel.CreateUnbounded<Pending>(new UnboundedChannelOptions { SingleReader = true });

    public async Task CreateTablesAsync()
    {
        await using var command = dataSource.CreateCommand("""
            CREATE TABLE IF NOT EXISTS floor_log (bodies bytea NOT NULL);
            CREATE TABLE IF NOT EXISTS floor_events (kind smallint NOT NULL, session_id uuid NOT NULL, body bytea NOT NULL);
            """);
        await command.ExecuteNonQueryAsync();
    }

    public Task StoreAsync(short eventKind, Guid sessionId, byte[] body)
    {
        if (kind == FloorStoreKind.None)
        {
            return Task.CompletedTask;
        }

        var pending = new Pending(eventKind, sessionId, body);
        _queue.Writer.TryWrite(pending);
        return pending.Done.Task;
    }

    public async Task RunAsync(CancellationToken stopping)
    {
        var batch = new List<Pending>(MaxBatch);
        while (await _queue.Reader.WaitToReadAsync(stopping))
        {
            batch.Clear();
            while (batch.Count < MaxBatch && _queue.Reader.TryRead(out var pending))
            {
                batch.Add(pending);
            }

            try
            {
                await (kind == FloorStoreKind.Log ? AppendLogAsync(batch) : CopyRowsAsync(batch));
                batch.ForEach(p => p.Done.TrySetResult());
            }
            catch (Exception ex)
            {
                batch.ForEach(p => p.Done.TrySetException(ex));
            }
        }
    }

    private async Task AppendLogAsync(List<Pending> batch)
    {
        var bodies = new byte[batch.Sum(p => p.Body.Length + 1)];
        var offset = 0;
        foreach (var pending in batch)
        {
            pending.Body.CopyTo(bodies, offset);
            offset += pending.Body.Length;
            bodies[offset++] = (byte)'\n';
        }

        await using var command = dataSource.CreateCommand("INSERT INTO floor_log (bodies) VALUES ($1)");
        command.Parameters.Add(new NpgsqlParameter { Value = bodies, NpgsqlDbType = NpgsqlDbType.Bytea });
        await command.ExecuteNonQueryAsync();
    }

    private async Task CopyRowsAsync(List<Pending> batch)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        await using var import = await connection.BeginBinaryImportAsync("COPY floor_events (kind, session_id, body) FROM STDIN (FORMAT BINARY)");
        foreach (var pending in batch)
        {
            await import.StartRowAsync();
            await import.WriteAsync(pending.EventKind, NpgsqlDbType.Smallint);
            await import.WriteAsync(pending.SessionId, NpgsqlDbType.Uuid);
            await import.WriteAsync(pending.Body, NpgsqlDbType.Bytea);
        }

        // COPY runs in its own implicit transaction: it has committed when this returns.
        await import.CompleteAsync();
    }

    private sealed record Pending(short EventKind, Guid SessionId, byte[] Body)
    {
        public TaskCompletionSource Done { get; } = new();
    }
}
