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
            return new SymmetricSecurityKey(Decode(configured.Trim(), "PLAYMUSIC_JWT_KEY"));
        }

        var path = Path.Combine(configuration["PLAYMUSIC_DATA_DIR"] ?? ".data", "jwt.key");
        return new SymmetricSecurityKey(Decode(ReadOrCreate(path, created), Path.GetFullPath(path), " (delete it to have a new one generated: every API node must share it)"));
    }

    private static byte[] Decode(string base64, string source, string remedy = "") =>
        TryDecode(base64) ?? throw new InvalidOperationException($"{source} must be base64 of at least {KeyBytes} bytes{remedy}.");

    private static byte[]? TryDecode(string base64)
    {
        var bytes = new byte[base64.Length];
        return Convert.TryFromBase64String(base64, bytes, out var length) && length >= KeyBytes ? bytes[..length] : null;
    }

    private static string ReadOrCreate(string path, Action<string>? created)
    {
        if (File.Exists(path))
        {
            return ReadWritten(path);
        }

        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        var key = Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(KeyBytes));
        // CreateNew makes two processes starting together agree on one key.
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        FileStream file;
        try
        {
            file = new FileStream(path, options);
        }
        catch (IOException) when (File.Exists(path))
        {
            return ReadWritten(path);
        }

        try
        {
            using (file)
            {
                file.Write(System.Text.Encoding.ASCII.GetBytes(key));
                file.Flush(flushToDisk: true);
            }
        }
        catch
        {
            // A failed write (a full disk) must not leave an empty key file that every later start refuses.
            File.Delete(path);
            throw;
        }

        created?.Invoke(Path.GetFullPath(path));
        return key;
    }

    /// <summary>
    /// The key file's content once it holds a key: the process that created it may still be writing
    /// (nodes of <c>./run.sh cluster</c> start together). A file that stays short is returned as it is
    /// and refused by <see cref="Decode"/>.
    /// </summary>
    private static string ReadWritten(string path)
    {
        var content = File.ReadAllText(path).Trim();
        for (var attempt = 0; attempt < 20 && TryDecode(content) is null; attempt++)
        {
            Thread.Sleep(TimeSpan.FromMilliseconds(100));
            content = File.ReadAllText(path).Trim();
        }

        return content;
    }
}
