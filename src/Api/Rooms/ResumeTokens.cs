using System.Security.Cryptography;
using System.Text;
using Microsoft.IdentityModel.Tokens;

namespace PlayMusic.Api.Rooms;

public sealed record ResumeClaim(string RoomId, int Seat, string PlayerId);

/// <summary>
/// Resume tokens: <c>base64url(roomId|seat|playerId).base64url(HMAC-SHA256)</c> under the key that signs the
/// JWTs, so any node of the deployment can check them and no one can forge a seat.
/// </summary>
public sealed class ResumeTokens(SymmetricSecurityKey key)
{
    public string Issue(ResumeClaim claim)
    {
        var payload = Encoding.UTF8.GetBytes($"{claim.RoomId}|{claim.Seat}|{claim.PlayerId}");
        return $"{Base64UrlEncoder.Encode(payload)}.{Base64UrlEncoder.Encode(HMACSHA256.HashData(key.Key, payload))}";
    }

    /// <summary>The claim, or null when the token is malformed or its signature does not match.</summary>
    public ResumeClaim? Read(string token)
    {
        var dot = token.IndexOf('.');
        if (dot <= 0)
        {
            return null;
        }

        try
        {
            var payload = Base64UrlEncoder.DecodeBytes(token[..dot]);
            var signature = Base64UrlEncoder.DecodeBytes(token[(dot + 1)..]);
            if (!CryptographicOperations.FixedTimeEquals(signature, HMACSHA256.HashData(key.Key, payload)))
            {
                return null;
            }

            var parts = Encoding.UTF8.GetString(payload).Split('|');
            return parts.Length == 3 && int.TryParse(parts[1], out var seat) ? new ResumeClaim(parts[0], seat, parts[2]) : null;
        }
        catch (FormatException)
        {
            return null;
        }
    }
}
