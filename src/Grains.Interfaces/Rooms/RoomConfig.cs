using System.Text;
using System.Text.Json;

namespace PlayMusic.Rooms;

/// <summary>What the backend reads from the host's otherwise opaque engine config.</summary>
public static class RoomConfig
{
    public const int MaxBytes = 16 * 1024;
    public const int MaxStems = 16;

    /// <summary>Stem ids name the song's audio stems and go back in every <c>Stems</c> event and refusal.</summary>
    public const int MaxStemIdLength = 32;

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

    /// <summary>
    /// Whether MessagePack clients can be sent the value too: JSON text may hold a number beyond a double (<c>1e400</c>)
    /// or an escaped lone surrogate (<c>JSON.stringify</c> of a string cut inside an emoji), which have no MessagePack
    /// form; stored, they would fail every room message to those clients.
    /// </summary>
    private static bool Portable(JsonElement element)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                foreach (var property in element.EnumerateObject())
                {
                    if (!IsText(() => property.Name) || !Portable(property.Value))
                    {
                        return false;
                    }
                }

                return true;
            case JsonValueKind.Array:
                foreach (var item in element.EnumerateArray())
                {
                    if (!Portable(item))
                    {
                        return false;
                    }
                }

                return true;
            case JsonValueKind.String:
                return IsText(() => element.GetString());
            case JsonValueKind.Number:
                return element.TryGetInt64(out _) || (element.TryGetDouble(out var number) && double.IsFinite(number));
            default:
                return true;
        }
    }

    /// <summary>Whether a JSON string unescapes to text: an escaped lone surrogate does not, and reading it throws.</summary>
    private static bool IsText(Func<string?> read)
    {
        try
        {
            read();
            return true;
        }
        catch (InvalidOperationException)
        {
            return false;
        }
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

            if (!Portable(document.RootElement))
            {
                return "must hold only finite numbers within double range and valid Unicode text (no lone surrogate)";
            }
        }
        catch (JsonException)
        {
            return $"must be nested at most {MaxDepth} levels deep";
        }

        return null;
    }

    /// <summary>
    /// Null when a co-op room can play this (checked) config's stems, else why not (a sentence that follows the field
    /// name "config"): the room needs stems its players can trigger, and <c>[1, 2]</c> or <c>[]</c> would leave it none.
    /// Other modes read no stems, so their configs may hold anything under that key.
    /// </summary>
    public static string? StemsProblem(RawJson config)
    {
        using var document = JsonDocument.Parse(config.Json);
        return document.RootElement.TryGetProperty("stems", out var stems) && !IsStemList(stems)
            ? $"stems must be an array of 1 to {MaxStems} stem ids, strings of 1 to {MaxStemIdLength} characters without control characters"
            : null;
    }

    private static bool IsStemList(JsonElement stems) =>
        stems.ValueKind == JsonValueKind.Array
        && stems.GetArrayLength() is > 0 and <= MaxStems
        && stems.EnumerateArray().All(stem => stem.ValueKind == JsonValueKind.String
            && stem.GetString() is { Length: > 0 and <= MaxStemIdLength } id
            && !id.Any(char.IsControl));
}
