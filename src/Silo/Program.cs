using Microsoft.Extensions.Configuration.Memory;
using PlayMusic.Hosting;

// A silo without the HTTP front door: joins the cluster recorded in PLAYMUSIC_DB (or the local
// database ./run.sh created) and serves /healthz, /readyz and /metrics. Its default ports differ
// from the API's embedded silo so that both can run side by side on one machine.
// appsettings.json ships beside the binaries; the working directory only anchors .data/.
var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
builder.Configuration.Sources.Insert(0, new MemoryConfigurationSource
{
    InitialData = new Dictionary<string, string?>
    {
        ["PLAYMUSIC_URLS"] = "http://127.0.0.1:5090",
        ["PLAYMUSIC_SILO_PORT"] = "11112",
        ["PLAYMUSIC_GATEWAY_PORT"] = "30001",
    },
});
builder.WebHost.UseUrls(builder.Configuration["PLAYMUSIC_URLS"]!.Split(';'));
builder.AddPlayMusicDatabase();
builder.AddPlayMusicSilo();
builder.AddPlayMusicCompetitions();
builder.AddPlayMusicTelemetry();

var app = builder.Build();
app.MapOperationsApi();
await app.RunAsync();
