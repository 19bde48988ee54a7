using Xunit;

namespace PlayMusic.TestSupport;

/// <summary>One database and one real app for a whole test class (tests keep apart by their own ids).</summary>
public sealed class ApiFixture : IAsyncLifetime
{
    public TestDatabase Database { get; private set; } = null!;

    public ApiHost Host { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Database = await TestDatabase.CreateAsync();
        Host = await ApiHost.StartAsync(Database.ConnectionString);
    }

    public async Task DisposeAsync()
    {
        await Host.DisposeAsync();
        await Database.DisposeAsync();
    }
}
