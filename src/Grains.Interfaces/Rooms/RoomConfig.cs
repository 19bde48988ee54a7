using System.Text.Json;

namespace PlayMusic.Rooms;

/// <summary>What the backend reads from the host's otherwise opaque engine config.</summary>
public static class RoomConfig
{
    public const int MaxBytes = 16 * 1024;
    public const int MaxStems = 16;

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

    /// <summary>Null when the config is acceptable, else why not.</summary>
    public static string? Check(RawJson config)
    {
        if (config.Json.Length > MaxBytes)
        {
            return $"config must be at most {MaxBytes} bytes of JSON";
        }

        if (config.Kind != JsonValueKind.Object)
        {
            return "config must be a JSON object";
        }

        return Stems(config) is { Count: > MaxStems } ? $"config.stems must hold at most {MaxStems} ids" : null;
    }
}
