using System.Text.Json;
using System.Text.Json.Serialization;

namespace PlayMusic.Rooms;

/// <summary>
/// An opaque JSON value (the host's engine <c>config</c>) kept as its UTF-16 text, so grains store and
/// forward it without knowing its shape. System.Text.Json writes it inline; the hub's MessagePack
/// resolver maps it to a MessagePack map/array.
/// </summary>
[GenerateSerializer, Immutable, JsonConverter(typeof(RawJsonConverter))]
public sealed record RawJson([property: Id(0)] string Json)
{
    public static RawJson EmptyObject { get; } = new("{}");
}

public sealed class RawJsonConverter : JsonConverter<RawJson>
{
    public override RawJson Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        using var document = JsonDocument.ParseValue(ref reader);
        return new RawJson(document.RootElement.GetRawText());
    }

    public override void Write(Utf8JsonWriter writer, RawJson value, JsonSerializerOptions options) =>
        writer.WriteRawValue(value.Json, skipInputValidation: true);
}
