using System.Security.Cryptography;
using System.Text;
using Microsoft.IdentityModel.Tokens;

namespace PlayMusic.Api.Telemetry;

/// <summary>
/// The per-session capability for <c>/perf</c> and <c>/end</c>: an HMAC of the session id under a
/// key derived from the deployment's signing key, so every node verifies it without a lookup and
/// nobody can write another player's session (no IDOR).
/// </summary>
public sealed class PerfTokens
{
    private const int TokenBytes = 16;

    private readonly byte[] _key;

    public PerfTokens(SymmetricSecurityKey signingKey)
    {
        // A key of its own, so a perf token can never be mistaken for (or help forge) a JWT signature.
        _key = HMACSHA256.HashData(signingKey.Key, "playmusic/perf-token/v1"u8);
    }

    public string For(Guid sessionId) => Base64UrlEncoder.Encode(Mac(sessionId));

    public bool Verify(Guid sessionId, string? token)
    {
        if (string.IsNullOrEmpty(token) || token.Length > 64)
        {
            return false;
        }

        byte[] presented;
        try
        {
            presented = Base64UrlEncoder.DecodeBytes(token);
        }
        catch (FormatException)
        {
            return false;
        }

        return CryptographicOperations.FixedTimeEquals(presented, Mac(sessionId));
    }

    private byte[] Mac(Guid sessionId) =>
        HMACSHA256.HashData(_key, Encoding.ASCII.GetBytes(sessionId.ToString()))[..TokenBytes];
}
