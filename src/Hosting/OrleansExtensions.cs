using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Npgsql;
using Orleans.Configuration;
using PlayMusic.Grains.Modes;
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
        builder.Services.Configure<ModeCatalogOptions>(builder.Configuration.GetSection("PlayMusic:Modes"));
        builder.Services.Configure<RoomOptions>(o => o.SeatGrace = TimeSpan.FromSeconds(builder.Configuration.GetValue("PLAYMUSIC_SEAT_GRACE_SECONDS", 30.0)));
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
                silo.AddAdoNetGrainStorage(name, (OptionsBuilder<AdoNetGrainStorageOptions> o) =>
                    o.Configure<NpgsqlDataSource>((options, dataSource) => (options.Invariant, options.DataSource) = (NpgsqlInvariant, dataSource)));
            }

            silo.UseAdoNetReminderService((OptionsBuilder<AdoNetReminderTableOptions> o) =>
                o.Configure<NpgsqlDataSource>((options, dataSource) => (options.Invariant, options.DataSource) = (NpgsqlInvariant, dataSource)));
            silo.AddActivityPropagation();
        });
        return builder;
    }
}
