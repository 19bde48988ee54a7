using System.Diagnostics.Metrics;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Npgsql;
using Orleans.Configuration;
using Orleans.Serialization;
using Orleans.Storage;
using PlayMusic.Analytics;
using PlayMusic.Grains.Analytics;
using PlayMusic.Grains.Rooms;

namespace PlayMusic.Hosting;

public static class OrleansExtensions
{
    /// <summary>The ADO.NET invariant that makes Orleans' providers speak PostgreSQL through Npgsql.</summary>
    public const string NpgsqlInvariant = "Npgsql";

    /// <summary>
    /// The silo configuration shared by the standalone silo (<c>src/Silo</c>) and the API's embedded
    /// silo: PostgreSQL membership, grain storage and reminders over the process's one
    /// <see cref="NpgsqlDataSource"/>, so any number of silos started on one database form one cluster.
    /// </summary>
    public static IHostApplicationBuilder AddPlayMusicSilo(this IHostApplicationBuilder builder)
    {
        var settings = PlayMusicSettings.From(builder.Configuration);
        RoomMetrics.Publish();
        var seatGrace = PlayMusicSettings.Seconds(builder.Configuration, "PLAYMUSIC_SEAT_GRACE_SECONDS", 30);
        builder.Services.Configure<RoomOptions>(o => o.SeatGrace = seatGrace);
        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.UseOrleans(silo =>
        {
            silo.Configure<ClusterOptions>(o =>
            {
                o.ClusterId = settings.ClusterId;
                o.ServiceId = settings.ServiceId;
            });
            silo.ConfigureEndpoints(settings.AdvertisedAddress, settings.SiloPort, settings.GatewayPort);
            silo.UseAdoNetClustering((OptionsBuilder<AdoNetClusteringSiloOptions> o) =>
                o.Configure<NpgsqlDataSource>((options, dataSource) => (options.Invariant, options.DataSource) = (NpgsqlInvariant, dataSource)));
            foreach (var name in StorageNames.All)
            {
                // Orleans' own serializer, not the Newtonsoft default: the state classes are
                // [GenerateSerializer] types, and Newtonsoft populated shared default instances in place.
                silo.AddAdoNetGrainStorage(name, (OptionsBuilder<AdoNetGrainStorageOptions> o) =>
                    o.Configure<NpgsqlDataSource, Serializer>((options, dataSource, serializer) =>
                        (options.Invariant, options.DataSource, options.GrainStorageSerializer) =
                        (NpgsqlInvariant, dataSource, new OrleansGrainStorageSerializer(serializer))));
            }

            silo.UseAdoNetReminderService((OptionsBuilder<AdoNetReminderTableOptions> o) =>
                o.Configure<NpgsqlDataSource>((options, dataSource) => (options.Invariant, options.DataSource) = (NpgsqlInvariant, dataSource)));
            silo.Configure<ClusterMembershipOptions>(o =>
            {
                // A silo that stops answering is declared dead after about ProbeTimeout ×
                // NumMissedProbesLimit plus a vote: under 10 s, so rooms move quickly (docs/scaling.md).
                o.ProbeTimeout = TimeSpan.FromSeconds(2);
                o.NumMissedProbesLimit = 3;
                o.TableRefreshTimeout = TimeSpan.FromSeconds(10);
                // A joining silo ignores members whose liveness row is two periods stale, so a cluster
                // whose only other silo crashed can start again within ~20 s.
                o.IAmAliveTablePublishTimeout = TimeSpan.FromSeconds(10);
                // Orleans leaves the sweep of dead silos' rows off by default, so rows of crashed silos
                // would pile up. It sweeps when membership changes: rows dead for over an hour, and
                // all but the newest 16 dead rows (kept for diagnosis).
                o.DefunctSiloCleanupPeriod = TimeSpan.FromMinutes(10);
                o.DefunctSiloExpiration = TimeSpan.FromHours(1);
                o.MaxDefunctSiloEntries = 16;
            });
            // Any of the above can be overridden, e.g. Orleans__Membership__DefunctSiloExpiration=00:05:00.
            silo.Services.Configure<ClusterMembershipOptions>(builder.Configuration.GetSection("Orleans:Membership"));
            silo.AddActivityPropagation();
            SendDatabaseExceptions(silo.Services);
            if (builder.Configuration.GetValue<bool>("PLAYMUSIC_KUBERNETES"))
            {
                // Endpoints from the pod's IP and cluster ids from its labels, and silos of deleted
                // pods are declared dead at once instead of waiting for missed probes.
                silo.UseKubernetesHosting();
            }
            // Committed telemetry to the portal counters; the raw tables stay the source of truth.
            silo.AddMemoryStreams(TelemetryStreams.ProviderName);
            silo.Services.AddSingleton(sp => new CounterMetrics(sp.GetRequiredService<IMeterFactory>().Create(TelemetryExtensions.PlayMusicMeter)));
        });
        builder.Services.AddSingleton<ModeCatalogReader>();
        builder.Services.AddHealthChecks().AddCheck<SiloHealthCheck>("silo", tags: [TelemetryExtensions.ReadyTag]);
        return builder;
    }

    /// <summary>
    /// A stateless API node: an Orleans client that finds the silos' gateways in the PostgreSQL
    /// membership table. Killing it loses no grain; its players reconnect elsewhere and resume.
    /// </summary>
    public static IHostApplicationBuilder AddPlayMusicClusterClient(this IHostApplicationBuilder builder)
    {
        var settings = PlayMusicSettings.From(builder.Configuration);
        builder.UseOrleansClient(client =>
        {
            client.Configure<ClusterOptions>(o =>
            {
                o.ClusterId = settings.ClusterId;
                o.ServiceId = settings.ServiceId;
            });
            client.UseAdoNetClustering((OptionsBuilder<AdoNetClusteringClientOptions> o) =>
                o.Configure<NpgsqlDataSource>((options, dataSource) => (options.Invariant, options.DataSource) = (NpgsqlInvariant, dataSource)));
            // Drop dead gateways and learn new ones within seconds, not the one-minute default.
            client.Configure<GatewayOptions>(o => o.GatewayListRefreshPeriod = TimeSpan.FromSeconds(5));
            // A call in flight to a silo that dies waits for this: with the 30 s default, a player's tournament join or
            // score hand-over sent just before a silo's crash answered 503 half a minute later. The node's calls answer
            // in milliseconds; a slower one (a big board's first activation) answers 503 and carries on in the cluster.
            client.Configure<ClientMessagingOptions>(o => o.ResponseTimeout = TimeSpan.FromSeconds(10));
            // The node publishes committed telemetry to the silos' portal counters.
            client.AddMemoryStreams(TelemetryStreams.ProviderName);
            client.AddActivityPropagation();
            SendDatabaseExceptions(client.Services);
        });
        builder.Services.AddSingleton<ModeCatalogReader>();
        builder.Services.AddHealthChecks().AddCheck<ClusterClientHealthCheck>("cluster", tags: [TelemetryExtensions.ReadyTag]);
        return builder;
    }

    /// <summary>
    /// Npgsql's exceptions cross grain calls as themselves, so an API node tells a database outage behind a silo
    /// (503, retry) from a bug (500) as an embedded node does. Orleans only serializes exceptions of the
    /// <c>System</c>, <c>Microsoft</c> and <c>Azure</c> namespaces by default; anything else failed the reply
    /// with a <c>CodecNotFoundException</c>.
    /// </summary>
    private static void SendDatabaseExceptions(IServiceCollection services) =>
        services.Configure<ExceptionSerializationOptions>(o => o.SupportedNamespacePrefixes.Add(nameof(Npgsql)));

    /// <summary>
    /// <c>PLAYMUSIC_ROLE=api</c> makes the API a client-only front door; the default (<c>embedded</c>)
    /// hosts a silo in the same process.
    /// </summary>
    public static IHostApplicationBuilder AddPlayMusicOrleans(this IHostApplicationBuilder builder) =>
        builder.Configuration["PLAYMUSIC_ROLE"] switch
        {
            null or "" or "embedded" => builder.AddPlayMusicSilo(),
            "api" => builder.AddPlayMusicClusterClient(),
            var role => throw new InvalidOperationException($"PLAYMUSIC_ROLE must be 'embedded' or 'api', not '{role}'"),
        };
}
