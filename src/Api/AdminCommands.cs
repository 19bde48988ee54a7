using PlayMusic.Api.Identity;
using PlayMusic.Hosting;

namespace PlayMusic.Api;

/// <summary>
/// Operator verbs of the Api binary (<c>./run.sh token …</c>, <c>./run.sh migrate</c>): admin tokens
/// are minted here with the server's own key, never by an HTTP endpoint.
/// </summary>
public static class AdminCommands
{
    private static readonly TimeSpan MaxTtl = TimeSpan.FromDays(366);

    public static async Task<int?> TryRunAsync(string[] args) => args switch
    {
        ["token", .. var rest] => Token(rest),
        ["migrate", .. var rest] => await MigrateAsync(rest),
        _ => null,
    };

    private static int Token(string[] arguments)
    {
        // Settings given as --NAME=value, as the server takes them (e.g. --PLAYMUSIC_DATA_DIR=/srv/playmusic).
        static bool IsSetting(string argument) => argument.StartsWith("--PLAYMUSIC_", StringComparison.Ordinal) && argument.Contains('=');
        var settings = arguments.Where(IsSetting).ToArray();
        // Not Except: a set operation, it also dropped repeated values (--name admin --role admin lost one "admin").
        var args = arguments.Where(a => !IsSetting(a)).ToArray();
        string role = TokenIssuer.PlayerRole, subject = Guid.NewGuid().ToString(), name = "operator";
        var ttl = TimeSpan.FromHours(1);
        for (var i = 0; i < args.Length; i += 2)
        {
            var value = i + 1 < args.Length ? args[i + 1] : null;
            switch (args[i], value)
            {
                case ("--role", TokenIssuer.AdminRole or TokenIssuer.PlayerRole):
                    role = value!;
                    break;
                // A player id (PROTOCOL: ids are lowercase UUIDs); room resume tokens rely on it, too.
                case ("--subject", { } text) when Guid.TryParse(text, out var playerId):
                    subject = playerId.ToString();
                    break;
                case ("--name", { Length: > 0 }):
                    name = value!;
                    break;
                case ("--ttl", { } text) when TryParseDuration(text, out var parsed):
                    ttl = parsed;
                    break;
                default:
                    Console.Error.WriteLine("usage: token --role admin|player [--subject <player uuid>] [--name N] [--ttl 1h|30m|7d, at most 366d]");
                    return 2;
            }
        }

        var configuration = new ConfigurationBuilder().AddEnvironmentVariables().AddCommandLine(settings).Build();
        var key = SigningKey.Load(configuration, created: path => Console.Error.WriteLine(
            $"note: there was no signing key at {path}, so a new one was made; the server signs with the key of its own data directory (or PLAYMUSIC_JWT_KEY)"));
        var issuer = new TokenIssuer(key, TimeProvider.System);
        Console.WriteLine(issuer.Issue(subject, name, role, ttl).Token);
        return 0;
    }

    private static async Task<int> MigrateAsync(string[] args)
    {
        var builder = Host.CreateApplicationBuilder(args);
        builder.AddPlayMusicDatabase();
        using var host = builder.Build();
        var applied = await host.Services.GetRequiredService<DatabaseMigrator>().ApplyAsync();
        Console.WriteLine(applied.Count == 0 ? "database is up to date" : $"applied: {string.Join(", ", applied)}");
        return 0;
    }

    /// <summary><c>30m</c>, <c>8h</c>, <c>7d</c>…, at most <see cref="MaxTtl"/>: a token cannot be revoked before it expires.</summary>
    private static bool TryParseDuration(string text, out TimeSpan duration)
    {
        duration = default;
        if (text.Length < 2 || !int.TryParse(text[..^1], out var amount) || amount <= 0)
        {
            return false;
        }

        long? seconds = text[^1] switch
        {
            's' => amount,
            'm' => amount * 60L,
            'h' => amount * 3_600L,
            'd' => amount * 86_400L,
            _ => null,
        };
        if (seconds is not { } s || s > MaxTtl.TotalSeconds)
        {
            return false;
        }

        duration = TimeSpan.FromSeconds(s);
        return true;
    }
}
