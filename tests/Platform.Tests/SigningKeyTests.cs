using Microsoft.Extensions.Configuration;
using PlayMusic.Api.Identity;

namespace PlayMusic.Platform.Tests;

/// <summary>The signing key of a deployment without <c>PLAYMUSIC_JWT_KEY</c>: one file every process shares.</summary>
public sealed class SigningKeyTests
{
    [Fact]
    public async Task Processes_starting_together_on_a_fresh_data_directory_all_load_the_same_key()
    {
        // `./run.sh cluster` starts every node at once on a fresh directory: none may read a key file
        // another is still writing.
        for (var round = 0; round < 20; round++)
        {
            var directory = Directory.CreateTempSubdirectory("playmusic-key-").FullName;
            try
            {
                var configuration = new ConfigurationBuilder()
                    .AddInMemoryCollection(new Dictionary<string, string?> { ["PLAYMUSIC_DATA_DIR"] = directory })
                    .Build();
                using var start = new Barrier(8);
                var keys = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Run(() =>
                {
                    start.SignalAndWait();
                    return Convert.ToBase64String(SigningKey.Load(configuration).Key);
                })));

                Assert.Single(keys.Distinct());
                Assert.Equal(File.ReadAllText(Path.Combine(directory, "jwt.key")).Trim(), keys[0]);
                Assert.Equal(["jwt.key"], Directory.GetFiles(directory).Select(Path.GetFileName));
            }
            finally
            {
                Directory.Delete(directory, recursive: true);
            }
        }
    }

    [Fact]
    public async Task A_key_file_another_process_has_created_but_not_yet_written_is_waited_for()
    {
        var directory = Directory.CreateTempSubdirectory("playmusic-key-").FullName;
        try
        {
            var path = Path.Combine(directory, "jwt.key");
            File.WriteAllText(path, "");
            var configuration = new ConfigurationBuilder()
                .AddInMemoryCollection(new Dictionary<string, string?> { ["PLAYMUSIC_DATA_DIR"] = directory })
                .Build();

            var loading = Task.Run(() => SigningKey.Load(configuration));
            await Task.Delay(TimeSpan.FromMilliseconds(300)); // the creator's write lands while the reader is already waiting
            var key = Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));
            File.WriteAllText(path, key);

            Assert.Equal(key, Convert.ToBase64String((await loading).Key));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Theory]
    [InlineData("")]
    [InlineData("c2hvcnQ=")]
    [InlineData("not base64!")]
    public void A_key_file_that_is_not_a_key_of_32_bytes_stops_the_start_with_its_path(string content)
    {
        var directory = Directory.CreateTempSubdirectory("playmusic-key-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(directory, "jwt.key"), content);
            var configuration = new ConfigurationBuilder()
                .AddInMemoryCollection(new Dictionary<string, string?> { ["PLAYMUSIC_DATA_DIR"] = directory })
                .Build();

            var error = Assert.Throws<InvalidOperationException>(() => SigningKey.Load(configuration));
            Assert.Contains(Path.Combine(directory, "jwt.key"), error.Message);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }
}
