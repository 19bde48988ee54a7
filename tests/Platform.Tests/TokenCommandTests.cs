using System.Diagnostics;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;
using PlayMusic.Api.Identity;
using PlayMusic.TestSupport;

namespace PlayMusic.Platform.Tests;

/// <summary>The operator's token verb of the Api binary, run as the operator runs it.</summary>
public sealed class TokenCommandTests
{
    [Fact]
    public async Task Mints_an_admin_token_with_the_key_given_as_an_argument()
    {
        var (exit, output, _) = await RunAsync("token", "--role", "admin", "--name", "Ops", $"--PLAYMUSIC_JWT_KEY={ApiHost.TestJwtKey}", "--ttl", "2h");

        Assert.Equal(0, exit);
        var validated = await new JsonWebTokenHandler().ValidateTokenAsync(output.Trim(), new TokenValidationParameters
        {
            ValidIssuer = TokenIssuer.Issuer,
            ValidAudience = TokenIssuer.Audience,
            IssuerSigningKey = new SymmetricSecurityKey(Convert.FromBase64String(ApiHost.TestJwtKey)),
        });
        Assert.True(validated.IsValid, validated.Exception?.Message);
        var jwt = (JsonWebToken)validated.SecurityToken;
        Assert.Equal("admin", jwt.GetClaim(TokenIssuer.RoleClaim).Value);
        Assert.InRange(jwt.ValidTo - DateTime.UtcNow, TimeSpan.FromMinutes(119), TimeSpan.FromMinutes(121));
    }

    [Fact]
    public async Task Takes_the_same_value_for_several_options()
    {
        var (exit, output, error) = await RunAsync("token", "--role", "admin", "--subject", "4F1C2B7E-0D3A-4E5B-9C8D-7A6B5C4D3E2F", "--name", "admin", $"--PLAYMUSIC_JWT_KEY={ApiHost.TestJwtKey}");

        Assert.True(exit == 0, error);
        var jwt = new JsonWebToken(output.Trim());
        // The subject is a player id, so it comes out in the contract's lowercase form.
        Assert.Equal(("4f1c2b7e-0d3a-4e5b-9c8d-7a6b5c4d3e2f", "admin", "admin"),
            (jwt.Subject, jwt.GetClaim(TokenIssuer.NameClaim).Value, jwt.GetClaim(TokenIssuer.RoleClaim).Value));
    }

    [Theory]
    [InlineData("ops")]
    [InlineData("qa|1")] // would break the room resume tokens that carry the player id
    public async Task Refuses_a_subject_that_is_not_a_player_id_with_the_usage(string subject)
    {
        var (exit, output, error) = await RunAsync("token", "--role", "admin", $"--PLAYMUSIC_JWT_KEY={ApiHost.TestJwtKey}", "--subject", subject);

        Assert.Equal(2, exit);
        Assert.Empty(output);
        Assert.StartsWith("usage: token", error);
    }

    [Theory]
    [InlineData("99999999d")] // used to overflow TimeSpan and crash
    [InlineData("367d")]
    [InlineData("0h")]
    public async Task Refuses_a_ttl_out_of_range_with_the_usage(string ttl)
    {
        var (exit, output, error) = await RunAsync("token", "--role", "admin", $"--PLAYMUSIC_JWT_KEY={ApiHost.TestJwtKey}", "--ttl", ttl);

        Assert.Equal(2, exit);
        Assert.Empty(output);
        Assert.StartsWith("usage: token", error);
    }

    private static async Task<(int Exit, string Output, string Error)> RunAsync(params string[] arguments)
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add(RepositoryPaths.ProjectOutput("Api", "PlayMusic.Api.dll"));
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        using var process = Process.Start(info)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
        return (process.ExitCode, await output, await error);
    }
}
