using System.Security.Cryptography;
using System.Text.Json;

namespace PlayMusic.Modes;

[GenerateSerializer, Immutable]
public sealed record MultiplayerRules(bool Enabled, int MinPlayers, int MaxPlayers, bool Coop);

/// <summary>One entry of the LiveOps mode catalog (PROTOCOL §5).</summary>
[GenerateSerializer, Immutable]
public sealed record GameMode(string Id, string Name, int MaxScorePerSecond, MultiplayerRules Multiplayer);

/// <summary>The whole catalog; <see cref="Version"/> grows with every change so nodes can cache it.</summary>
[GenerateSerializer, Immutable]
public sealed record ModeCatalog(long Version, IReadOnlyList<GameMode> Modes)
{
    /// <summary>Every client downloads the whole catalog, so it stays small.</summary>
    public const int MaxModes = 100;

    public GameMode? Find(string id) => Modes.FirstOrDefault(m => m.Id == id);

    /// <summary>The body of <c>GET /api/config/modes</c>.</summary>
    public byte[] ToJson() => JsonSerializer.SerializeToUtf8Bytes(Modes, JsonSerializerOptions.Web);

    /// <summary>
    /// The strong entity tag of a <see cref="ToJson"/> body: what GET answers as <c>ETag</c> and PUT's
    /// <c>If-Match</c> names. It follows the content, not <see cref="Version"/>, so built-in defaults that differ
    /// between deployments (both version 0) never share a tag.
    /// </summary>
    public static string EntityTagOf(byte[] json) => $"\"{Convert.ToHexStringLower(SHA256.HashData(json))[..16]}\"";
}

public enum ModePutError
{
    None,

    /// <summary>The catalog's entity tag is none of the request's <c>If-Match</c>.</summary>
    CatalogChanged,

    /// <summary>A new mode would make the catalog larger than <see cref="ModeCatalog.MaxModes"/>.</summary>
    CatalogFull,
}

/// <summary>A mode change's outcome: the catalog as it now is (changed or not), and why not when it was refused.</summary>
[GenerateSerializer, Immutable]
public sealed record ModePutResult(ModePutError Error, ModeCatalog Catalog);
