using Microsoft.IdentityModel.Tokens;

namespace PlayMusic.Api.Identity;

/// <summary>
/// The HMAC key that signs player, admin and resume tokens. It comes from <c>PLAYMUSIC_JWT_KEY</c>
/// (base64, at least 32 bytes) or, failing that, from <c>&lt;PLAYMUSIC_DATA_DIR&gt;/jwt.key</c>, which
/// is generated on first use with owner-only permissions. Every API node of a deployment must
/// share it.
/// </summary>
public static class SigningKey
{
    private const int KeyBytes = 32;

    /// <param name="created">Told the path when this call generated the key file (the operator's token verb warns).</param>
    public static SymmetricSecurityKey Load(IConfiguration configuration, Action<string>? created = null)
    {
        var configured = configuration["PLAYMUSIC_JWT_KEY"];
        if (!string.IsNullOrWhiteSpace(configured))
        {
            var bytes = Convert.FromBase64String(configured);
            if (bytes.Length < KeyBytes)
            {
                throw new InvalidOperationException($"PLAYMUSIC_JWT_KEY must decode to at least {KeyBytes} bytes.");
            }

            return new SymmetricSecurityKey(bytes);
        }

        var path = Path.Combine(configuration["PLAYMUSIC_DATA_DIR"] ?? ".data", "jwt.key");
        return new SymmetricSecurityKey(Convert.FromBase64String(ReadOrCreate(path, created)));
    }

    private static string ReadOrCreate(string path, Action<string>? created)
    {
        if (File.Exists(path))
        {
            return File.ReadAllText(path).Trim();
        }

        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        var key = Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(KeyBytes));
        try
        {
            // CreateNew makes two processes starting together agree on one key.
            var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
            if (!OperatingSystem.IsWindows())
            {
                options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
            }

            using (var file = new FileStream(path, options))
            using (var writer = new StreamWriter(file))
            {
                writer.Write(key);
            }

            created?.Invoke(Path.GetFullPath(path));
            return key;
        }
        catch (IOException) when (File.Exists(path))
        {
            return File.ReadAllText(path).Trim();
        }
    }
}
