using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;

namespace PlayMusic.Telemetry.Tests;

public sealed record StartedSession(Guid SessionId, string PerfToken, string Portal);

/// <summary>What the engine iframe sends, over a real HTTP client.</summary>
public sealed class EngineClient(HttpClient http, string playerToken)
{
    public static object Steps(double download, double config, double assets, double audio) => new { download, config, assets, audio };

    public Task<HttpResponseMessage> StartAsync(object body)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/api/sessions") { Content = JsonContent.Create(body) };
        request.Headers.Authorization = new("Bearer", playerToken);
        return http.SendAsync(request);
    }

    public async Task<StartedSession> StartSessionAsync(string gameId = "song-1", Guid? loadId = null, string? portal = null,
        string? referrer = null, string? country = null, string? deviceTier = null)
    {
        using var response = await StartAsync(new { gameId, mode = "runner", loadId = loadId ?? Guid.NewGuid(), portal, referrer, country, deviceTier });
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<StartedSession>())!;
    }

    public Task<HttpResponseMessage> PerfAsync(Guid sessionId, string? token, object body) => Post($"/api/sessions/{sessionId}/perf", token, body);

    public Task<HttpResponseMessage> EndAsync(Guid sessionId, string? token, object body) => Post($"/api/sessions/{sessionId}/end", token, body);

    /// <summary>As <c>navigator.sendBeacon(url, JSON.stringify(body))</c> sends it: text/plain, no auth.</summary>
    public Task<HttpResponseMessage> BeaconAsync(object body, string mediaType = "text/plain") =>
        http.PostAsync("/api/beacon/dropout", new StringContent(JsonSerializer.Serialize(body, JsonSerializerOptions.Web), Encoding.UTF8, mediaType));

    private Task<HttpResponseMessage> Post(string path, string? token, object body)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = JsonContent.Create(body) };
        if (token is not null)
        {
            request.Headers.Add("X-Perf-Token", token);
        }

        return http.SendAsync(request);
    }
}

public static class ProblemAssert
{
    public static async Task<JsonElement> IsAsync(HttpResponseMessage response, HttpStatusCode status, string code, string? field = null)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(status == response.StatusCode, $"expected {(int)status}, got {(int)response.StatusCode}: {text}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = JsonDocument.Parse(text).RootElement;
        Assert.Equal(code, problem.GetProperty("code").GetString());
        if (field is not null)
        {
            Assert.StartsWith(field + ":", problem.GetProperty("detail").GetString());
        }

        return problem;
    }
}
