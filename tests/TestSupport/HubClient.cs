using System.Collections.Concurrent;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Threading.Channels;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Client;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace PlayMusic.TestSupport;

public enum Protocol
{
    Json,
    MessagePack,
}

/// <summary>
/// A real .NET SignalR client of /hubs/game that records every server event as a <see cref="JsonNode"/>,
/// whatever the protocol: MessagePack maps are converted key by key, so tests see the keys the server sent.
/// </summary>
public sealed class HubClient : IAsyncDisposable
{
    public static readonly string[] Events = ["RoomState", "Countdown", "Tick", "Stems", "Emote", "PlayerLeft", "Results", "Standings"];

    private readonly ConcurrentDictionary<string, Channel<JsonNode>> _events = new();

    private HubClient(HubConnection connection, Protocol protocol)
    {
        Connection = connection;
        Protocol = protocol;
        foreach (var name in Events)
        {
            var channel = Channel(name);
            if (protocol == Protocol.Json)
            {
                connection.On<JsonElement>(name, e => channel.Writer.TryWrite(JsonNode.Parse(e.GetRawText())!));
            }
            else
            {
                connection.On<object>(name, o => channel.Writer.TryWrite(ToNode(o)!));
            }
        }
    }

    public HubConnection Connection { get; }

    public Protocol Protocol { get; }

    public static async Task<HubClient> ConnectAsync(Uri baseAddress, string token, Protocol protocol)
    {
        var builder = new HubConnectionBuilder()
            .WithUrl(new Uri(baseAddress, "/hubs/game"), o => o.AccessTokenProvider = () => Task.FromResult<string?>(token));
        if (protocol == Protocol.MessagePack)
        {
            builder.AddMessagePackProtocol();
        }

        // Handlers first: the server may send an event as soon as the connection is up (before StartAsync
        // returns), and one that arrives before its handler exists is dropped.
        var client = new HubClient(builder.Build(), protocol);
        try
        {
            await client.Connection.StartAsync();
            return client;
        }
        catch
        {
            await client.DisposeAsync();
            throw;
        }
    }

    /// <summary>Invokes a hub method and returns its result as JSON (null for void methods).</summary>
    public async Task<JsonNode?> InvokeAsync(string method, object? argument = null)
    {
        object?[] args = argument is null ? [] : [argument];
        if (Protocol == Protocol.Json)
        {
            var result = await Connection.InvokeCoreAsync<JsonElement?>(method, args);
            return result is { } element ? JsonNode.Parse(element.GetRawText()) : null;
        }

        return ToNode(await Connection.InvokeCoreAsync<object?>(method, args));
    }

    /// <summary>Asserts that the call fails with <c>HubException("CODE: …")</c>.</summary>
    public async Task<string> FailsWithAsync(string code, string method, object? argument = null)
    {
        var error = await Assert.ThrowsAsync<HubException>(() => InvokeAsync(method, argument));
        Assert.StartsWith(code + ": ", error.Message);
        return error.Message;
    }

    /// <summary>The next event of that name matching the predicate (earlier non-matching ones are skipped).</summary>
    public async Task<JsonNode> NextAsync(string name, Func<JsonNode, bool>? predicate = null, TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(20));
        try
        {
            while (true)
            {
                var node = await Channel(name).Reader.ReadAsync(cts.Token);
                if (predicate is null || predicate(node))
                {
                    return node;
                }
            }
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"no matching {name} event arrived");
        }
    }

    /// <summary>How many events of this name arrived and were not read yet.</summary>
    public int Unread(string name) => Channel(name).Reader.Count;

    /// <summary>Drops events received so far.</summary>
    public void Clear(string name)
    {
        while (Channel(name).Reader.TryRead(out _))
        {
        }
    }

    public ValueTask DisposeAsync() => Connection.DisposeAsync();

    private Channel<JsonNode> Channel(string name) => _events.GetOrAdd(name, _ => System.Threading.Channels.Channel.CreateUnbounded<JsonNode>());

    /// <summary>Converts what the MessagePack client deserialises into <c>object</c> (maps, arrays, primitives) to JSON.</summary>
    public static JsonNode? ToNode(object? value) => value switch
    {
        null => null,
        IDictionary<object, object> map => new JsonObject(map.Select(kv => KeyValuePair.Create((string)kv.Key, ToNode(kv.Value)))),
        object[] items => new JsonArray([.. items.Select(ToNode)]),
        string s => JsonValue.Create(s),
        bool b => JsonValue.Create(b),
        // Numbers go through JSON text so GetValue<int>/<long>/<double> all work as with the JSON protocol.
        float f => JsonNode.Parse(f.ToString("R", System.Globalization.CultureInfo.InvariantCulture)),
        double d => JsonNode.Parse(d.ToString("R", System.Globalization.CultureInfo.InvariantCulture)),
        byte or sbyte or short or ushort or int or uint or long or ulong => JsonNode.Parse(Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture)!),
        _ => throw new InvalidOperationException($"unexpected MessagePack value {value.GetType()}"),
    };
}
