using System.Reflection;
using System.Runtime.Serialization;
using System.Text.Json;
using System.Text.Json.Serialization;
using PlayMusic.Api.Rooms;

namespace PlayMusic.Rooms.Tests;

/// <summary>
/// The server→client payloads get their MessagePack keys from [DataMember(Name)] and their JSON names from
/// SignalR's camelCase policy; this keeps the two in step for every type a client can receive.
/// </summary>
public sealed class WirePayloadTests
{
    [Fact]
    public void Every_payload_member_has_the_same_camelCase_key_in_both_protocols()
    {
        var roots = typeof(GameHub).GetMethods(BindingFlags.Public | BindingFlags.Instance | BindingFlags.DeclaredOnly)
            .Select(m => m.ReturnType)
            .Concat(typeof(IRoomNodeObserver).GetMethods().SelectMany(m => m.GetParameters()).Select(p => p.ParameterType));
        var payloads = new HashSet<Type>();
        foreach (var root in roots)
        {
            Collect(root, payloads);
        }

        Assert.Contains(typeof(TickEvent), payloads);
        Assert.Contains(typeof(SeatTick), payloads);
        Assert.Contains(typeof(RoomPlayerView), payloads);
        foreach (var type in payloads)
        {
            Assert.True(type.IsDefined(typeof(DataContractAttribute)), $"{type.Name} lacks [DataContract]");
            foreach (var property in type.GetProperties(BindingFlags.Public | BindingFlags.Instance))
            {
                var jsonName = property.GetCustomAttribute<JsonPropertyNameAttribute>()?.Name ?? JsonNamingPolicy.CamelCase.ConvertName(property.Name);
                Assert.Equal((type.Name, property.Name, jsonName), (type.Name, property.Name, property.GetCustomAttribute<DataMemberAttribute>()?.Name));
            }
        }
    }

    /// <summary>Our own types reachable from <paramref name="type"/>, except those with their own converter (RawJson).</summary>
    private static void Collect(Type type, HashSet<Type> payloads)
    {
        foreach (var argument in type.IsArray ? [type.GetElementType()!] : type.GetGenericArguments())
        {
            Collect(argument, payloads);
        }

        if (type.IsArray || type.Namespace?.StartsWith("PlayMusic", StringComparison.Ordinal) != true
            || type.IsDefined(typeof(JsonConverterAttribute)) || !payloads.Add(type))
        {
            return;
        }

        foreach (var property in type.GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            Collect(property.PropertyType, payloads);
        }
    }
}
