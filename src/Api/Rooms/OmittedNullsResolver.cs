using System.Buffers;
using System.Collections.Concurrent;
using System.Reflection;
using System.Runtime.Serialization;
using System.Text.Json.Serialization;
using MessagePack;
using MessagePack.Formatters;

namespace PlayMusic.Api.Rooms;

/// <summary>
/// The MessagePack side of <c>[JsonIgnore(Condition = WhenWritingNull)]</c> on the hub's DataContract records
/// (PROTOCOL §2's optional <c>startsAt?</c>, <c>startedAt?</c>, <c>coopScore?</c>): such a member that is null is
/// left out of the map, as System.Text.Json leaves it out, so a client reads it as absent under both protocols
/// (not <c>undefined</c> under one and <c>null</c> under the other). Other types get the inner resolver's formatter.
/// </summary>
public sealed class OmittedNullsResolver(IFormatterResolver inner) : IFormatterResolver
{
    private readonly ConcurrentDictionary<Type, object?> _formatters = new();

    public IMessagePackFormatter<T>? GetFormatter<T>() =>
        (IMessagePackFormatter<T>?)_formatters.GetOrAdd(typeof(T), _ => Create<T>());

    private object? Create<T>()
    {
        var formatter = inner.GetFormatter<T>();
        var omitted = typeof(T).GetProperties()
            .Where(p => p.GetCustomAttribute<JsonIgnoreAttribute>()?.Condition == JsonIgnoreCondition.WhenWritingNull)
            .Select(p => p.GetCustomAttribute<DataMemberAttribute>()?.Name)
            .OfType<string>()
            .ToHashSet(StringComparer.Ordinal);
        return formatter is null || omitted.Count == 0 ? formatter : new Formatter<T>(formatter, omitted);
    }

    private sealed class Formatter<T>(IMessagePackFormatter<T> inner, HashSet<string> omitted) : IMessagePackFormatter<T>
    {
        public void Serialize(ref MessagePackWriter writer, T value, MessagePackSerializerOptions options)
        {
            var buffer = new ArrayBufferWriter<byte>();
            var scratch = writer.Clone(buffer);
            inner.Serialize(ref scratch, value, options);
            scratch.Flush();

            var reader = new MessagePackReader(buffer.WrittenMemory);
            if (reader.NextMessagePackType != MessagePackType.Map)
            {
                writer.WriteRaw(buffer.WrittenSpan);
                return;
            }

            var entries = new List<ReadOnlySequence<byte>>();
            for (var count = reader.ReadMapHeader(); count > 0; count--)
            {
                var start = reader.Position;
                var key = reader.ReadString();
                var isNil = reader.NextMessagePackType == MessagePackType.Nil;
                reader.Skip();
                if (!(isNil && key is not null && omitted.Contains(key)))
                {
                    entries.Add(reader.Sequence.Slice(start, reader.Position));
                }
            }

            writer.WriteMapHeader(entries.Count);
            foreach (var entry in entries)
            {
                writer.WriteRaw(entry);
            }
        }

        public T Deserialize(ref MessagePackReader reader, MessagePackSerializerOptions options) => inner.Deserialize(ref reader, options);
    }
}
