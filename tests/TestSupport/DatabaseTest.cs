using Xunit;

namespace PlayMusic.TestSupport;

/// <summary>A test class whose every test gets a fresh database of its own, dropped afterwards.</summary>
public abstract class DatabaseTest : IAsyncLifetime
{
    protected TestDatabase Database { get; private set; } = null!;

    public async Task InitializeAsync() => Database = await TestDatabase.CreateAsync();

    public async Task DisposeAsync() => await Database.DisposeAsync();
}
