using PlayMusic.Grains.Competitions;

namespace PlayMusic.Competitions.Tests;

/// <summary>The order-statistic structure against the obvious model (a sorted list), over random replaces and a bulk load.</summary>
public sealed class RankedSetTests
{
    [Fact]
    public void Ranks_and_ranges_match_a_sorted_model_through_random_updates()
    {
        var random = new Random(42);
        var set = new RankedSet();
        var model = new Dictionary<string, RankedEntry>();
        set.Load(Enumerable.Range(0, 500).Select(i => Entry(random, $"p{i}")).Select(e => model[e.PlayerId] = e).ToList());

        for (var step = 0; step < 3_000; step++)
        {
            var entry = Entry(random, $"p{random.Next(800)}"); // both new players and replacements
            set.Set(entry);
            model[entry.PlayerId] = entry;

            if (step % 250 == 0)
            {
                var sorted = model.Values.Order(Comparer<RankedEntry>.Create(RankedEntry.Compare)).ToList();
                Assert.Equal(sorted.Count, set.Count);
                Assert.Equal(sorted, set.Range(0, sorted.Count));
                Assert.Equal(sorted.Skip(37).Take(11), set.Range(37, 11));
                for (var i = 0; i < sorted.Count; i += 17)
                {
                    Assert.Equal(i + 1, set.RankOf(sorted[i].PlayerId));
                }
            }
        }

        Assert.Equal(0, set.RankOf("nobody"));
        Assert.Empty(set.Range(set.Count, 5));
    }

    [Fact]
    public void Order_holds_while_every_entry_migrates_to_the_top_and_back_to_the_bottom()
    {
        // Entries moving through a board fill the blocks at one end (splits) and empty them at the other
        // (merges and removed blocks); ranks and pages are checked against the model all the way.
        var set = new RankedSet();
        var model = new Dictionary<string, RankedEntry>();
        set.Load(Enumerable.Range(0, 3_000).Select(i => new RankedEntry($"p{i}", "", 1_000_000 + i, 0)).Select(e => model[e.PlayerId] = e).ToList());
        var random = new Random(7);
        var players = model.Keys.OrderBy(_ => random.Next()).ToList();

        foreach (var (score, step) in new[] { (10_000_000L, 1), (0L, -1) })
        {
            for (var i = 0; i < players.Count; i++)
            {
                var entry = new RankedEntry(players[i], "", score + step * i, i % 3); // ties on score are rare, on time common
                set.Set(entry);
                model[entry.PlayerId] = entry;
                if (i % 400 == 0 || i == players.Count - 1)
                {
                    var sorted = model.Values.Order(Comparer<RankedEntry>.Create(RankedEntry.Compare)).ToList();
                    Assert.Equal(sorted, set.Range(0, sorted.Count));
                    Assert.Equal(sorted.Skip(1_234).Take(50), set.Range(1_234, 50));
                    Assert.All(sorted.Where((_, rank) => rank % 97 == 0), e => Assert.Equal(sorted.IndexOf(e) + 1, set.RankOf(e.PlayerId)));
                }
            }
        }

        Assert.Equal(3_000, set.Count);
    }

    [Fact]
    public void Improve_keeps_only_a_better_entry_and_standing_reports_entry_and_rank()
    {
        var set = new RankedSet();
        Assert.True(set.Improve(new RankedEntry("ann", "Ann", 100, 50)));   // new player
        Assert.True(set.Improve(new RankedEntry("bob", "Bob", 200, 60)));
        Assert.False(set.Improve(new RankedEntry("ann", "Ann", 90, 10)));   // lower score
        Assert.False(set.Improve(new RankedEntry("ann", "Ann", 100, 50)));  // same score, same time
        Assert.False(set.Improve(new RankedEntry("ann", "Ann", 100, 70)));  // same score, later
        Assert.Equal((new RankedEntry("ann", "Ann", 100, 50), 2L), set.Standing("ann"));

        Assert.True(set.Improve(new RankedEntry("ann", "Ann 2", 100, 40)));  // same score, earlier
        Assert.True(set.Improve(new RankedEntry("ann", "Ann 3", 300, 90)));  // higher score
        Assert.Equal((new RankedEntry("ann", "Ann 3", 300, 90), 1L), set.Standing("ann"));
        Assert.Equal((new RankedEntry("bob", "Bob", 200, 60), 2L), set.Standing("bob"));
        Assert.Null(set.Standing("nobody"));
        Assert.Equal(2, set.Count);
    }

    [Fact]
    public void A_slot_looked_up_once_serves_the_check_the_write_and_the_standing()
    {
        var set = new RankedSet();
        set.Set(new RankedEntry("bob", "Bob", 200, 60));
        var ann = new RankedEntry("ann", "Ann", 100, 50);

        var slot = set.SlotOf("ann");
        Assert.Equal(RankedSet.NoSlot, slot);
        Assert.True(set.WouldImprove(ann, slot));
        Assert.True(set.Improve(ann, ref slot));
        Assert.NotEqual(RankedSet.NoSlot, slot); // the new player's slot, handed back
        Assert.Equal((100L, 2L), set.StandingAt(slot));

        // A stale NoSlot (another write placed the player meanwhile) is looked up again, not placed twice.
        var stale = RankedSet.NoSlot;
        Assert.False(set.Improve(new RankedEntry("ann", "Ann", 90, 10), ref stale));
        Assert.Equal(slot, stale);
        Assert.False(set.WouldImprove(new RankedEntry("ann", "Ann", 100, 70), slot));
        Assert.True(set.Improve(new RankedEntry("ann", "Ann", 300, 90), ref stale));
        Assert.Equal((300L, 1L), set.StandingAt(slot));
        Assert.Equal(2, set.Count);
    }

    [Fact]
    public void A_board_large_enough_for_huge_pages_keeps_its_order_through_growth_and_updates()
    {
        // 300,000 entries need ~5 MiB of keys and ~7 MiB of blocks: both arrays are allocated pinned and
        // advised for 2 MiB pages, and regrown (copied) several times on the way up from empty.
        var set = new RankedSet();
        for (var i = 0; i < 300_000; i++)
        {
            set.Improve(new RankedEntry($"p{i}", "", i, 0));
        }

        for (var i = 0; i < 300_000; i += 3)
        {
            Assert.True(set.Improve(new RankedEntry($"p{i}", "", 1_000_000 + i, 0)));
        }

        Assert.Equal(300_000, set.Count);
        Assert.Equal(1, set.RankOf("p299997"));         // best improved entry
        Assert.Equal(100_000, set.RankOf("p0"));        // lowest improved entry
        Assert.Equal(100_001, set.RankOf("p299999"));   // best entry not improved
        Assert.Equal(300_000, set.RankOf("p1"));
    }

    [Fact]
    public void Ties_on_score_go_to_the_earlier_achievement()
    {
        var set = new RankedSet();
        set.Set(new RankedEntry("late", "Late", 100, 2_000));
        set.Set(new RankedEntry("early", "Early", 100, 1_000));
        set.Set(new RankedEntry("high", "High", 101, 3_000));

        Assert.Equal(["high", "early", "late"], set.Range(0, 10).Select(e => e.PlayerId));
        Assert.True(set.WouldImprove(new RankedEntry("late", "Late", 100, 500), set.SlotOf("late")));
        Assert.False(set.WouldImprove(new RankedEntry("late", "Late", 99, 1), set.SlotOf("late")));
        Assert.True(new RankedEntry("late", "Late", 100, 500).Beats(set.Standing("late")!.Value.Entry));
    }

    private static RankedEntry Entry(Random random, string playerId) =>
        new(playerId, playerId, random.Next(50), random.Next(1_000)); // few distinct scores: many ties
}
