using System.Security.Claims;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace PlayMusic.Api.Identity;

public sealed record IssuedToken(string Token, DateTimeOffset ExpiresAt);

/// <summary>Mints the stateless JWTs of PROTOCOL §1 (no database write).</summary>
public sealed class TokenIssuer(SymmetricSecurityKey key, TimeProvider time)
{
    public const string Issuer = "playmusic";
    public const string Audience = "playmusic";
    public const string RoleClaim = "role";
    public const string NameClaim = "name";
    public const string PlayerRole = "player";
    public const string AdminRole = "admin";

    /// <summary>How far behind the issuer's clock a validating node's may be and still take a fresh token.</summary>
    public static readonly TimeSpan ClockTolerance = TimeSpan.FromSeconds(30);

    private readonly JsonWebTokenHandler _handler = new();
    private readonly SigningCredentials _credentials = new(key, SecurityAlgorithms.HmacSha256);

    public IssuedToken Issue(string subject, string name, string role, TimeSpan lifetime)
    {
        var now = time.GetUtcNow();
        var expires = now + lifetime;
        var token = _handler.CreateToken(new SecurityTokenDescriptor
        {
            Issuer = Issuer,
            Audience = Audience,
            IssuedAt = now.UtcDateTime,
            NotBefore = (now - ClockTolerance).UtcDateTime,
            Expires = expires.UtcDateTime,
            SigningCredentials = _credentials,
            Subject = new ClaimsIdentity([
                new Claim(JwtRegisteredClaimNames.Sub, subject),
                new Claim(NameClaim, name),
                new Claim(RoleClaim, role),
            ]),
        });
        return new IssuedToken(token, DateTimeOffset.FromUnixTimeSeconds(expires.ToUnixTimeSeconds()));
    }
}
