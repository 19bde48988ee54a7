using PlayMusic.Competitions;

namespace PlayMusic.Grains.Competitions;

/// <summary>
/// The API nodes that relay tournament standings, in memory with an expiry: nodes re-register
/// periodically, so losing this activation (or its silo) costs at most one registration interval.
/// </summary>
public sealed class StandingsNodesGrain(TimeProvider clock) : Grain, IStandingsNodesGrain
{
    private readonly Dictionary<string, (IStandingsObserver Observer, DateTimeOffset SeenAt)> _nodes = new(StringComparer.Ordinal);

    /// <summary>Every live node has registered once this has passed (a second of slack over the interval).</summary>
    private readonly DateTimeOffset _completeFrom = clock.GetUtcNow() + IStandingsNodesGrain.RegisterInterval + TimeSpan.FromSeconds(1);

    public Task RegisterAsync(string nodeId, IStandingsObserver observer)
    {
        _nodes[nodeId] = (observer, clock.GetUtcNow());
        return Task.CompletedTask;
    }

    public Task<StandingsNodeList> GetNodesAsync()
    {
        var now = clock.GetUtcNow();
        var oldest = now - IStandingsNodesGrain.Expiry;
        foreach (var (nodeId, node) in _nodes.Where(n => n.Value.SeenAt < oldest).ToList())
        {
            _nodes.Remove(nodeId);
        }

        return Task.FromResult(new StandingsNodeList([.. _nodes.Values.Select(n => n.Observer)], now >= _completeFrom));
    }
}
