using System.Text;
using System.Text.Json;

namespace PlayMusic.Rooms;

/// <summary>What the backend reads from the host's otherwise opaque engine config.</summary>
public static class RoomConfig
{
    public const int MaxBytes = 16 * 1024;
    public const int MaxStems = 16;

    /// <summary>
    /// Well below the 64 levels at which SignalR's JSON protocol stops reading a message (and closes the
    /// connection), so a deep config is an INVALID_ARGUMENT under both protocols up to there.
    /// </summary>
    public const int MaxDepth = 32;

    /// <summary>The config's <c>stems</c> array of ids, or null when it has none.</summary>
    public static IReadOnlyList<string>? Stems(RawJson config)
    {
        using var document = JsonDocument.Parse(config.Json);
        return document.RootElement.ValueKind == JsonValueKind.Object
            && document.RootElement.TryGetProperty("stems", out var stems)
            && stems.ValueKind == JsonValueKind.Array
            ? [.. stems.EnumerateArray().Where(s => s.ValueKind == JsonValueKind.String).Select(s => s.GetString()!).Distinct()]
            : null;
    }

    /// <summary>Null when the config is acceptable, else why not (a sentence that follows the field name "config").</summary>
    public static string? Check(RawJson config)
    {
        // Bytes of UTF-8, as the engine counts them, whichever protocol carried the config.
        if (Encoding.UTF8.GetByteCount(config.Json) > MaxBytes)
        {
            return $"must be at most {MaxBytes} bytes of JSON";
        }

        try
        {
            using var document = JsonDocument.Parse(config.Json, new JsonDocumentOptions { MaxDepth = MaxDepth });
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                return "must be a JSON object";
            }
        }
        catch (JsonException)
        {
            return $"must be nested at most {MaxDepth} levels deep";
        }

        return Stems(config) is { Count: > MaxStems } ? $"stems must hold at most {MaxStems} ids" : null;
    }
}
