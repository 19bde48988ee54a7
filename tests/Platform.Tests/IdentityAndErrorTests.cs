using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;
using Orleans.Runtime;
using PlayMusic.Api.Identity;
using PlayMusic.TestSupport;

namespace PlayMusic.Platform.Tests;

public sealed class IdentityAndErrorTests : IAsyncLifetime
{
    private static readonly object ValidMode = new
    {
        name = "Drift",
        maxScorePerSecond = 5000,
        multiplayer = new { enabled = false, minPlayers = 2, maxPlayers = 4, coop = false },
    };

    private TestDatabase _database = null!;
    private ApiHost _host = null!;

    public async Task InitializeAsync()
    {
        _database = await TestDatabase.CreateAsync();
        _host = await ApiHost.StartAsync(_database.ConnectionString, configure: app =>
        {
            app.MapGet("/test/crash", string () => throw new InvalidOperationException("secret internals"));
            // What a grain call throws while the silo holding the grain is going away.
            app.MapGet("/test/silo-gone", string () => throw new SiloUnavailableException());
        });
    }

    public async Task DisposeAsync()
    {
        await _host.DisposeAsync();
        await _database.DisposeAsync();
    }

    [Fact]
    public async Task Guest_token_is_a_signed_player_jwt_for_a_new_player_id()
    {
        var response = await _host.Http.PostAsJsonAsync("/api/auth/guest", new { displayName = "  Nova  " });
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var playerId = Guid.Parse(body.GetProperty("playerId").GetString()!);
        Assert.Equal("Nova", body.GetProperty("displayName").GetString());
        var jwt = new JsonWebTokenHandler().ReadJsonWebToken(body.GetProperty("token").GetString());
        Assert.Equal(playerId.ToString(), jwt.Subject);
        Assert.Equal("Nova", jwt.GetClaim("name").Value);
        Assert.Equal("player", jwt.GetClaim("role").Value);
        Assert.Equal(new DateTimeOffset(jwt.ValidTo).ToUnixTimeMilliseconds(), body.GetProperty("expiresAt").GetInt64());
        Assert.True(body.GetProperty("expiresAt").GetInt64() > DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
    }

    [Fact]
    public async Task Guest_without_body_gets_a_default_name()
    {
        var response = await _host.Http.PostAsync("/api/auth/guest", null);
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.StartsWith("Guest-", body.GetProperty("displayName").GetString());
    }

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("this display name is far too long!")]
    [InlineData("bell\u0007")]
    [InlineData("\u200b")] // zero-width space: looks empty
    [InlineData("\u202eabc")] // right-to-left override: reorders what follows
    [InlineData("x\u00ad")] // soft hyphen
    [InlineData("\u200d")] // a lone emoji joiner: nothing shows
    [InlineData("\u200d \U000E0067")] // joiner, space and an emoji tag
    [InlineData("\u3164")] // Hangul filler: a letter that renders blank
    [InlineData("\ufe0f")] // a lone emoji variation selector
    [InlineData("\u200d\ufe0f\u034f")] // joiner, variation selector, combining grapheme joiner
    [InlineData("Bob\u2029Admin")] // a paragraph break between letters
    [InlineData("Bob\u2028Ann")] // a line break between letters
    [InlineData("\uffff")] // a noncharacter
    [InlineData("x\U0001FFFE")] // a noncharacter outside the basic plane
    [InlineData("\u2065")] // unassigned, reserved default-ignorable: renders as nothing
    [InlineData("\U000E0FFF")] // the same outside the basic plane
    [InlineData("Zo\u0301\u0316\u0334\u0352\u0301e")] // five marks stacked on one letter: a column of accents over the next rows
    [InlineData("o\u0301\u0302\u0303\u0304\u200d\u0301b")] // the same, split by an (invisible) joiner
    public async Task Bad_display_name_is_400_naming_the_field(string displayName)
    {
        var response = await _host.Http.PostAsJsonAsync("/api/auth/guest", new { displayName });
        var problem = await AssertProblem(response, HttpStatusCode.BadRequest, "INVALID_ARGUMENT");
        Assert.Contains("displayName", problem.GetProperty("detail").GetString());
    }

    [Theory]
    [InlineData(17, "\U0001F600")] // 17 emoji: 34 UTF-16 units
    [InlineData(17, "e\u0301")] // 17 accented letters written with a combining accent
    [InlineData(16, "e\u0323\u0302")] // Vietnamese ệ written with two combining marks
    [InlineData(8, "a\u0301\u0302\u0303\u0304")] // four marks on a letter, the most one may carry
    [InlineData(5, "\U0001F468\u200D\U0001F469\u200D\U0001F467\u200D\U0001F466")] // families: joined emoji sequences
    [InlineData(32, "a")]
    [InlineData(1, "\U0003FFFD")] // unassigned in this runtime's tables: a newer emoji is one of those
    public async Task Display_names_count_characters_as_players_see_them(int count, string character)
    {
        var displayName = string.Concat(Enumerable.Repeat(character, count));
        var response = await _host.Http.PostAsJsonAsync("/api/auth/guest", new { displayName });
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(displayName, (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("displayName").GetString());

        var tooLong = await _host.Http.PostAsJsonAsync("/api/auth/guest", new { displayName = displayName + new string('a', 33 - count) });
        await AssertProblem(tooLong, HttpStatusCode.BadRequest, "INVALID_ARGUMENT");
    }

    [Fact]
    public async Task An_anonymous_guest_body_is_bounded()
    {
        var response = await _host.Http.PostAsJsonAsync("/api/auth/guest", new { displayName = "Big", padding = new string('x', 64 * 1024) });
        await AssertProblem(response, HttpStatusCode.RequestEntityTooLarge, "PAYLOAD_TOO_LARGE");
    }

    [Fact]
    public async Task An_admin_body_is_bounded_too()
    {
        using var admin = _host.Client(_host.AdminToken());
        var response = await admin.PutAsJsonAsync("/api/admin/config/modes/drift", new { name = "Drift", padding = new string('x', 100 * 1024) });
        await AssertProblem(response, HttpStatusCode.RequestEntityTooLarge, "PAYLOAD_TOO_LARGE");
    }

    [Fact]
    public async Task Metrics_list_the_room_hub_and_ingest_series_before_anything_happened()
    {
        var metrics = await _host.Http.GetStringAsync("/metrics");
        foreach (var series in new[]
        {
            "playmusic_room_active", "playmusic_room_ticks_total", "playmusic_room_node_messages_total", "playmusic_hub_connections",
            "playmusic_hub_messages_in_total", "playmusic_hub_messages_out_total", "playmusic_analytics_events_ingested_total",
            // PROTOCOL §6 names tick duration and lag: their histograms have no series before a room's first tick.
            "playmusic_room_tick_lag_max_milliseconds", "playmusic_room_tick_duration_max_milliseconds",
        })
        {
            Assert.Contains($"\n{series}", metrics);
        }
    }

    [Theory]
    [InlineData("admin", HttpStatusCode.OK)]
    [InlineData("player", HttpStatusCode.Forbidden)]
    [InlineData(null, HttpStatusCode.Unauthorized)]
    [InlineData("garbage", HttpStatusCode.Unauthorized)]
    [InlineData("expired", HttpStatusCode.Unauthorized)]
    [InlineData("expired-5s-ago", HttpStatusCode.Unauthorized)]
    [InlineData("issuer-clock-20s-ahead", HttpStatusCode.OK)]
    [InlineData("foreign-key", HttpStatusCode.Unauthorized)]
    public async Task Admin_routes_need_an_admin_token(string? who, HttpStatusCode expected)
    {
        var token = who switch
        {
            "admin" => _host.AdminToken(),
            "player" => (await _host.GuestAsync()).Token,
            "garbage" => "not.a.jwt",
            "expired" => new TokenIssuer(_host.Services.GetRequiredService<SymmetricSecurityKey>(), new ShiftedTime(TimeSpan.FromHours(-2)))
                .Issue("x", "x", TokenIssuer.AdminRole, TimeSpan.FromHours(1)).Token,
            "expired-5s-ago" => new TokenIssuer(_host.Services.GetRequiredService<SymmetricSecurityKey>(), new ShiftedTime(TimeSpan.FromSeconds(-65)))
                .Issue("x", "x", TokenIssuer.AdminRole, TimeSpan.FromMinutes(1)).Token,
            "issuer-clock-20s-ahead" => new TokenIssuer(_host.Services.GetRequiredService<SymmetricSecurityKey>(), new ShiftedTime(TimeSpan.FromSeconds(20)))
                .Issue("x", "x", TokenIssuer.AdminRole, TimeSpan.FromHours(1)).Token,
            "foreign-key" => new TokenIssuer(new SymmetricSecurityKey(new byte[32]), TimeProvider.System)
                .Issue("x", "x", TokenIssuer.AdminRole, TimeSpan.FromHours(1)).Token,
            _ => null,
        };
        using var client = token is null ? new HttpClient { BaseAddress = _host.BaseAddress } : _host.Client(token);

        var response = await client.PutAsJsonAsync("/api/admin/config/modes/drift", ValidMode);

        Assert.Equal(expected, response.StatusCode);
        if (expected != HttpStatusCode.OK)
        {
            await AssertProblem(response, expected, expected == HttpStatusCode.Forbidden ? "FORBIDDEN" : "UNAUTHORIZED");
        }
    }

    [Fact]
    public async Task A_token_answered_from_the_validation_cache_is_refused_once_it_expires()
    {
        // Expires in one to two seconds (a JWT's exp is in whole seconds).
        var token = new TokenIssuer(_host.Services.GetRequiredService<SymmetricSecurityKey>(), new ShiftedTime(TimeSpan.FromSeconds(-58)))
            .Issue("x", "x", TokenIssuer.AdminRole, TimeSpan.FromMinutes(1));
        using var client = _host.Client(token.Token);
        var cache = _host.Services.GetRequiredService<ValidatedTokens>();

        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/api/admin/portals")).StatusCode);
        Assert.NotNull(cache.Find(token.Token));
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/api/admin/portals")).StatusCode);

        // Real time is the point: the token handler and the cache both read the system clock.
        var deadline = DateTimeOffset.UtcNow.AddSeconds(15);
        while (DateTimeOffset.UtcNow <= token.ExpiresAt && DateTimeOffset.UtcNow < deadline)
        {
            await Task.Delay(100);
        }

        var late = await client.GetAsync("/api/admin/portals");
        await AssertProblem(late, HttpStatusCode.Unauthorized, "UNAUTHORIZED");
        Assert.Null(cache.Find(token.Token));
    }

    [Fact]
    public async Task Browsers_on_configured_origins_may_call_and_others_get_no_cors_headers()
    {
        await using var host = await ApiHost.StartAsync(_database.ConnectionString,
            new Dictionary<string, string?> { ["PLAYMUSIC_CORS_ORIGINS"] = "https://y8.com; https://playgama.com; https://*.discordsays.com" });

        foreach (var (origin, allowed) in new[]
        {
            ("https://y8.com", true), ("https://playgama.com", true), ("https://evil.example", false),
            // A Discord Activity is served from its application's own subdomain.
            ("https://1234567890.discordsays.com", true), ("https://discordsays.com.evil.example", false), ("http://1.discordsays.com", false),
        })
        {
            using var preflight = new HttpRequestMessage(HttpMethod.Options, "/api/auth/guest");
            preflight.Headers.Add("Origin", origin);
            preflight.Headers.Add("Access-Control-Request-Method", "POST");
            preflight.Headers.Add("Access-Control-Request-Headers", "content-type,authorization");
            using var answer = await host.Http.SendAsync(preflight);
            Assert.Equal(allowed ? origin : null, answer.Headers.TryGetValues("Access-Control-Allow-Origin", out var values) ? values.Single() : null);

            using var post = new HttpRequestMessage(HttpMethod.Post, "/api/auth/guest") { Content = JsonContent.Create(new { displayName = "Cors" }) };
            post.Headers.Add("Origin", origin);
            using var created = await host.Http.SendAsync(post);
            Assert.Equal(HttpStatusCode.OK, created.StatusCode); // CORS is the browser's check; the server still answers
            Assert.Equal(allowed, created.Headers.Contains("Access-Control-Allow-Origin"));
            Assert.Contains("Origin", created.Headers.Vary); // a shared cache keeps the answers per origin
        }

        // Unset, as on _host: same-origin only.
        using var unconfigured = new HttpRequestMessage(HttpMethod.Options, "/api/auth/guest");
        unconfigured.Headers.Add("Origin", "https://y8.com");
        unconfigured.Headers.Add("Access-Control-Request-Method", "POST");
        Assert.False((await _host.Http.SendAsync(unconfigured)).Headers.Contains("Access-Control-Allow-Origin"));
    }

    [Theory]
    [InlineData("/healthz")]
    [InlineData("/readyz")]
    [InlineData("/metrics")]
    [InlineData("/api/config/modes")]
    [InlineData("/liveops/portals")]
    public async Task Read_endpoints_answer_get_and_head_and_refuse_writes(string path)
    {
        Assert.Equal(HttpStatusCode.OK, (await _host.Http.GetAsync(path)).StatusCode);
        using var head = await _host.Http.SendAsync(new HttpRequestMessage(HttpMethod.Head, path));
        Assert.Equal(HttpStatusCode.OK, head.StatusCode);
        Assert.Empty(await head.Content.ReadAsByteArrayAsync());
        await AssertProblem(await _host.Http.PostAsync(path, null), HttpStatusCode.MethodNotAllowed, "METHOD_NOT_ALLOWED");
    }

    [Fact]
    public async Task A_signed_token_without_a_subject_is_401()
    {
        var token = new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
        {
            Issuer = TokenIssuer.Issuer,
            Audience = TokenIssuer.Audience,
            Claims = new Dictionary<string, object> { [TokenIssuer.NameClaim] = "Nobody", [TokenIssuer.RoleClaim] = TokenIssuer.PlayerRole },
            Expires = DateTime.UtcNow.AddHours(1),
            SigningCredentials = new SigningCredentials(_host.Services.GetRequiredService<SymmetricSecurityKey>(), SecurityAlgorithms.HmacSha256),
        });
        using var client = _host.Client(token);

        await AssertProblem(await client.GetAsync("/api/games/g1/leaderboard?around=me"), HttpStatusCode.Unauthorized, "UNAUTHORIZED");
    }

    [Fact]
    public async Task Hub_accepts_the_token_in_the_query_string_only_on_hub_paths()
    {
        var token = (await _host.GuestAsync()).Token;
        using var admin = new HttpClient { BaseAddress = _host.BaseAddress };
        var response = await admin.PutAsJsonAsync($"/api/admin/config/modes/drift?access_token={token}", ValidMode);
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
    }

    [Fact]
    public async Task Malformed_json_is_400_problem_json()
    {
        var response = await _host.Http.PostAsync("/api/auth/guest", new StringContent("{\"displayName\":", Encoding.UTF8, "application/json"));
        await AssertProblem(response, HttpStatusCode.BadRequest, "INVALID_JSON");
    }

    [Fact]
    public async Task Wrong_json_type_is_400_naming_the_field()
    {
        var response = await _host.Http.PostAsync("/api/auth/guest", new StringContent("{\"displayName\":42}", Encoding.UTF8, "application/json"));
        var problem = await AssertProblem(response, HttpStatusCode.BadRequest, "INVALID_JSON");
        Assert.Contains("displayName", problem.GetProperty("detail").GetString());
    }

    [Fact]
    public async Task Unknown_route_is_404_problem_json()
    {
        await AssertProblem(await _host.Http.GetAsync("/api/no-such-thing"), HttpStatusCode.NotFound, "NOT_FOUND");
    }

    [Fact]
    public async Task Unhandled_exception_is_500_problem_json_without_internals()
    {
        var response = await _host.Http.GetAsync("/test/crash");
        var problem = await AssertProblem(response, HttpStatusCode.InternalServerError, "INTERNAL_ERROR");
        var text = problem.GetRawText();
        Assert.DoesNotContain("secret internals", text);
        Assert.DoesNotContain("InvalidOperationException", text);
        Assert.DoesNotContain(" at ", text);
    }

    [Fact]
    public async Task A_silo_going_away_is_503_with_retry_after_not_a_server_bug()
    {
        var response = await _host.Http.GetAsync("/test/silo-gone");
        await AssertProblem(response, HttpStatusCode.ServiceUnavailable, "UNAVAILABLE");
        Assert.NotNull(response.Headers.RetryAfter);
    }

    [Fact]
    public async Task Mode_catalog_is_cacheable_and_answers_if_none_match_with_304()
    {
        var first = await _host.Http.GetAsync("/api/config/modes");
        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        var etag = first.Headers.ETag;
        Assert.NotNull(etag);
        Assert.NotNull(first.Headers.CacheControl);

        using var conditional = new HttpRequestMessage(HttpMethod.Get, "/api/config/modes");
        conditional.Headers.IfNoneMatch.Add(etag);
        var second = await _host.Http.SendAsync(conditional);
        Assert.Equal(HttpStatusCode.NotModified, second.StatusCode);

        // As RFC 9110 compares: the weak form, one tag of a list, and "*" match too; another tag does not.
        foreach (var (header, expected) in new[]
        {
            ($"W/{etag!.Tag}", HttpStatusCode.NotModified),
            ($"\"other\", {etag.Tag}", HttpStatusCode.NotModified),
            ("*", HttpStatusCode.NotModified),
            ("\"other\"", HttpStatusCode.OK),
        })
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "/api/config/modes");
            request.Headers.TryAddWithoutValidation("If-None-Match", header);
            Assert.Equal(expected, (await _host.Http.SendAsync(request)).StatusCode);
        }
    }

    [Theory]
    [InlineData("application/json; charset=\"utf-8\"", HttpStatusCode.OK)]
    [InlineData("application/json; charset=UTF-8", HttpStatusCode.OK)]
    [InlineData("application/json; charset=utf8", HttpStatusCode.OK)] // what browsers' encoding standard also reads as UTF-8
    [InlineData("application/json; charset=bogus", HttpStatusCode.UnsupportedMediaType)]
    [InlineData("application/json; charset=", HttpStatusCode.UnsupportedMediaType)]
    [InlineData("application/json; charset=utf-7", HttpStatusCode.UnsupportedMediaType)]
    public async Task A_json_body_charset_is_read_quoted_and_an_unknown_one_is_415_not_a_crash(string contentType, HttpStatusCode expected)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/auth/guest") { Content = new ByteArrayContent("{\"displayName\":\"Nova\"}"u8.ToArray()) };
        request.Content.Headers.TryAddWithoutValidation("Content-Type", contentType);
        var response = await _host.Http.SendAsync(request);
        if (expected == HttpStatusCode.OK)
        {
            Assert.Equal(expected, response.StatusCode);
            Assert.Equal("Nova", (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("displayName").GetString());
        }
        else
        {
            var problem = await AssertProblem(response, expected, "UNSUPPORTED_MEDIA_TYPE");
            Assert.StartsWith("Content-Type:", problem.GetProperty("detail").GetString());
        }
    }

    [Fact]
    public async Task An_unknown_charset_is_judged_only_where_a_body_is_bound_and_after_the_token()
    {
        HttpRequestMessage Request(HttpMethod method, string path)
        {
            var request = new HttpRequestMessage(method, path) { Content = new ByteArrayContent("{}"u8.ToArray()) };
            request.Content.Headers.TryAddWithoutValidation("Content-Type", "application/json; charset=bogus");
            return request;
        }

        Assert.Equal(HttpStatusCode.OK, (await _host.Http.SendAsync(Request(HttpMethod.Get, "/healthz"))).StatusCode);
        await AssertProblem(await _host.Http.SendAsync(Request(HttpMethod.Post, "/api/sessions")), HttpStatusCode.Unauthorized, "UNAUTHORIZED");
        await AssertProblem(await _host.Http.SendAsync(Request(HttpMethod.Put, "/api/admin/config/modes/drift")), HttpStatusCode.Unauthorized, "UNAUTHORIZED");
        using var admin = _host.Client(_host.AdminToken());
        await AssertProblem(await admin.SendAsync(Request(HttpMethod.Put, "/api/admin/config/modes/drift")), HttpStatusCode.UnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE");
    }

    [Fact]
    public async Task Mode_change_with_if_match_is_made_only_on_the_catalog_it_was_read_from()
    {
        using var admin = _host.Client(_host.AdminToken());
        var read = (await _host.Http.GetAsync("/api/config/modes")).Headers.ETag!.Tag.ToString();

        using var first = await PutModeAsync(admin, "Drift A", read);
        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        var changed = first.Headers.ETag!.Tag.ToString();
        Assert.NotEqual(read, changed);
        Assert.Equal(changed, (await _host.Http.GetAsync("/api/config/modes")).Headers.ETag!.Tag.ToString());

        // A second operator who read the catalog before the first change does not silently undo it.
        using var late = await PutModeAsync(admin, "Drift B", read);
        await AssertProblem(late, HttpStatusCode.PreconditionFailed, "PRECONDITION_FAILED");
        Assert.Equal(changed, late.Headers.ETag!.Tag.ToString());
        // Strong comparison (RFC 9110): the weak form matches nothing, nor does a header that is no tag.
        foreach (var header in new[] { $"W/{changed}", changed.Trim('"') })
        {
            await AssertProblem(await PutModeAsync(admin, "Drift C", header), HttpStatusCode.PreconditionFailed, "PRECONDITION_FAILED");
        }

        var modes = await _host.Http.GetFromJsonAsync<JsonElement>("/api/config/modes");
        Assert.Equal("Drift A", modes.EnumerateArray().Single(m => m.GetProperty("id").GetString() == "drift").GetProperty("name").GetString());

        Assert.Equal(HttpStatusCode.OK, (await PutModeAsync(admin, "Drift D", $"\"other\", {changed}")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await PutModeAsync(admin, "Drift E", "*")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await PutModeAsync(admin, "Drift F", null)).StatusCode);
    }

    [Fact]
    public async Task Catalog_takes_at_most_a_hundred_modes_and_existing_ones_still_change()
    {
        using var admin = _host.Client(_host.AdminToken());
        var count = (await _host.Http.GetFromJsonAsync<JsonElement>("/api/config/modes")).GetArrayLength();
        for (var i = count; i < 100; i++)
        {
            (await admin.PutAsJsonAsync($"/api/admin/config/modes/extra-{i}", ValidMode)).EnsureSuccessStatusCode();
        }

        var full = await AssertProblem(await admin.PutAsJsonAsync("/api/admin/config/modes/one-too-many", ValidMode), HttpStatusCode.Conflict, "CATALOG_FULL");
        Assert.Contains("100", full.GetProperty("detail").GetString());
        Assert.Equal(100, (await _host.Http.GetFromJsonAsync<JsonElement>("/api/config/modes")).GetArrayLength());
        Assert.Equal(HttpStatusCode.OK, (await admin.PutAsJsonAsync($"/api/admin/config/modes/extra-{count}", ValidMode)).StatusCode);
    }

    private static async Task<HttpResponseMessage> PutModeAsync(HttpClient admin, string name, string? ifMatch)
    {
        using var request = new HttpRequestMessage(HttpMethod.Put, "/api/admin/config/modes/drift")
        {
            Content = JsonContent.Create(new { name, maxScorePerSecond = 5000, multiplayer = new { enabled = false, minPlayers = 2, maxPlayers = 4, coop = false } }),
        };
        if (ifMatch is not null)
        {
            request.Headers.TryAddWithoutValidation("If-Match", ifMatch);
        }

        return await admin.SendAsync(request);
    }

    [Theory]
    [InlineData("BAD ID", "id")]
    [InlineData("drift", "maxScorePerSecond")]
    [InlineData("drift", "multiplayer.maxPlayers")]
    [InlineData("drift", "name")]
    public async Task Bad_mode_change_is_400_naming_the_field(string id, string field)
    {
        using var admin = _host.Client(_host.AdminToken());
        var body = field switch
        {
            "maxScorePerSecond" => new { name = "Drift", maxScorePerSecond = -1, multiplayer = new { enabled = true, minPlayers = 2, maxPlayers = 4, coop = false } },
            "multiplayer.maxPlayers" => new { name = "Drift", maxScorePerSecond = 10, multiplayer = new { enabled = true, minPlayers = 2, maxPlayers = 5, coop = false } },
            "name" => new { name = "Dr\0ift", maxScorePerSecond = 10, multiplayer = new { enabled = true, minPlayers = 2, maxPlayers = 4, coop = false } },
            _ => ValidMode,
        };
        var response = await admin.PutAsJsonAsync($"/api/admin/config/modes/{Uri.EscapeDataString(id)}", body);
        var problem = await AssertProblem(response, HttpStatusCode.BadRequest, "INVALID_ARGUMENT");
        Assert.StartsWith(field, problem.GetProperty("detail").GetString());
    }

    [Fact]
    public async Task A_mode_name_is_measured_without_the_spaces_around_it()
    {
        using var admin = _host.Client(_host.AdminToken());
        var id = "trim-" + Guid.NewGuid().ToString("N")[..8];
        object Mode(string name) => new { name, maxScorePerSecond = 10, multiplayer = new { enabled = false, minPlayers = 2, maxPlayers = 2, coop = false } };

        using var padded = await admin.PutAsJsonAsync($"/api/admin/config/modes/{id}", Mode($" \t{new string('D', 64)}\n "));
        Assert.Equal(HttpStatusCode.OK, padded.StatusCode);
        var modes = await _host.Http.GetFromJsonAsync<JsonElement>("/api/config/modes");
        Assert.Equal(new string('D', 64), modes.EnumerateArray().Single(m => m.GetProperty("id").GetString() == id).GetProperty("name").GetString());
        await AssertProblem(await admin.PutAsJsonAsync($"/api/admin/config/modes/{id}", Mode(new string('D', 65))), HttpStatusCode.BadRequest, "INVALID_ARGUMENT");
    }

    private static async Task<JsonElement> AssertProblem(HttpResponseMessage response, HttpStatusCode status, string code)
    {
        Assert.Equal(status, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal((int)status, problem.GetProperty("status").GetInt32());
        Assert.False(string.IsNullOrEmpty(problem.GetProperty("title").GetString()));
        Assert.False(string.IsNullOrEmpty(problem.GetProperty("detail").GetString()));
        Assert.Equal(code, problem.GetProperty("code").GetString());
        Assert.False(string.IsNullOrEmpty(problem.GetProperty("traceId").GetString()));
        return problem;
    }

    private sealed class ShiftedTime(TimeSpan shift) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => System.GetUtcNow() + shift;
    }
}
