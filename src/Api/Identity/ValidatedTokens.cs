using System.Collections.Concurrent;
using System.Security.Claims;

namespace PlayMusic.Api.Identity;

/// <summary>
/// Bearer tokens this node has validated, by their exact text, until they expire. A player's token comes with every
/// session start and with its leaderboard, tournament and hub calls, and validating it (parsing, the HMAC, claims)
/// cost ~15 µs of a session start; a token of the same text is the same signed statement, and nothing can revoke one
/// before its <c>exp</c> (PROTOCOL §1; the signing key is fixed for the process's life), so a repeat is answered from
/// here. The principals are shared between requests: nothing in the API adds claims to one.
/// </summary>
public sealed class ValidatedTokens(TimeProvider time)
{
    /// <summary>Bounded: when full the cache starts over, which only costs validations.</summary>
    public const int Capacity = 20_000;

    private readonly ConcurrentDictionary<string, (ClaimsPrincipal Principal, DateTime ExpiresAt)> _tokens = new(StringComparer.Ordinal);

    public ClaimsPrincipal? Find(string token)
    {
        if (!_tokens.TryGetValue(token, out var entry))
        {
            return null;
        }

        if (time.GetUtcNow().UtcDateTime < entry.ExpiresAt)
        {
            return entry.Principal;
        }

        _tokens.TryRemove(token, out _);
        return null;
    }

    public void Add(string token, ClaimsPrincipal principal, DateTime expiresAt)
    {
        // Starting over rather than sweeping out expired entries: a sweep at capacity would walk every entry on each
        // session start while the cache stays full. Expired entries also leave on their next look-up.
        if (_tokens.Count >= Capacity)
        {
            _tokens.Clear();
        }

        _tokens[token] = (principal, expiresAt);
    }
}
