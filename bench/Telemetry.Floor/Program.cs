using System.Buffers;
using System.IO.Pipelines;
using System.Text;
using Npgsql;
using PlayMusic.Telemetry.Floor;

// The floor of the telemetry ingest (docs/benchmarks.md): the engine's telemetry paths (PROTOCOL §3) on
// Kestrel with only what "a 2xx means durably stored" needs — read the body, group-commit it to
// PostgreSQL, answer with the contract's status and shape. No JSON parsing, validation, tokens, keys,
// portal attribution, counters or middleware. `--store none|log|rows` (FloorStoreKind) sets how much is
// stored. GET /healthz is the same trivial 200 as the real server's. bench/Telemetry.Bench drives it
// unchanged; bench/Telemetry.Floor/floor.sh runs the whole measurement.
//   taskset -c 0 dotnet PlayMusic.Telemetry.Floor.dll --urls http://127.0.0.1:5481 --store rows --connection "Host=…"
var builder = WebApplication.CreateSlimBuilder(args);
builder.Logging.ClearProviders();
var kind = Enum.Parse<FloorStoreKind>(builder.Configuration["store"] ?? "rows", ignoreCase: true);
await using var dataSource = NpgsqlDataSource.Create(builder.Configuration["connection"]
    ?? throw new InvalidOperationException("--connection is required"));
var store = new FloorStore(dataSource, kind);
await store.CreateTablesAsync();
var app = builder.Build();
_ = store.RunAsync(app.Lifetime.ApplicationStopping);

app.MapGet("/healthz", (HttpContext context) => Answer(context, StatusCodes.Status200OK, """{"status":"Healthy","checks":{}}"""));
app.MapPost("/api/auth/guest", (HttpContext context) => Answer(context, StatusCodes.Status200OK, """{"token":"floor"}"""));
app.MapPost("/api/sessions", async (HttpContext context) =>
{
    var sessionId = Guid.CreateVersion7();
    await store.StoreAsync(0, sessionId, await BodyAsync(context.Request.BodyReader));
    await Answer(context, StatusCodes.Status201Created, $$"""{"sessionId":"{{sessionId}}","perfToken":"floor"}""");
});
app.MapPost("/api/sessions/{id:guid}/perf", async (Guid id, HttpContext context) =>
{
    await store.StoreAsync(1, id, await BodyAsync(context.Request.BodyReader));
    context.Response.StatusCode = StatusCodes.Status202Accepted;
});
app.MapPost("/api/sessions/{id:guid}/end", async (Guid id, HttpContext context) =>
{
    await store.StoreAsync(2, id, await BodyAsync(context.Request.BodyReader));
    context.Response.StatusCode = StatusCodes.Status202Accepted;
});
app.MapPost("/api/beacon/dropout", async (HttpContext context) =>
{
    await store.StoreAsync(3, Guid.Empty, await BodyAsync(context.Request.BodyReader));
    context.Response.StatusCode = StatusCodes.Status204NoContent;
});
app.Run();

static async Task<byte[]> BodyAsync(PipeReader reader)
{
    while (true)
    {
        var read = await reader.ReadAsync();
        if (read.IsCompleted)
        {
            var body = read.Buffer.ToArray();
            reader.AdvanceTo(read.Buffer.End);
            return body;
        }

        reader.AdvanceTo(read.Buffer.Start, read.Buffer.End);
    }
}

static Task Answer(HttpContext context, int status, string json)
{
    context.Response.StatusCode = status;
    context.Response.ContentType = "application/json";
    return context.Response.WriteAsync(json, Encoding.UTF8);
}
