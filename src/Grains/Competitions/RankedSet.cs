namespace PlayMusic.Grains.Competitions;

/// <summary>A player's best entry on a board.</summary>
public sealed record RankedEntry(string PlayerId, string DisplayName, long Score, long AchievedAt)
{
    /// <summary>Board order: higher score first, then earlier <see cref="AchievedAt"/>, then player id (a total order).</summary>
    public static int Compare(RankedEntry a, RankedEntry b)
    {
        var order = b.Score.CompareTo(a.Score);
        if (order == 0)
        {
            order = a.AchievedAt.CompareTo(b.AchievedAt);
        }

        return order != 0 ? order : string.CompareOrdinal(a.PlayerId, b.PlayerId);
    }

    /// <summary>Whether this entry would replace <paramref name="current"/> as the player's best.</summary>
    public bool Beats(RankedEntry? current) =>
        current is null || Score > current.Score || (Score == current.Score && AchievedAt < current.AchievedAt);
}

/// <summary>
/// One entry per player in board order, with O(log n) insert/replace, rank and select: a treap whose
/// nodes carry their subtree size (an order-statistic tree), plus a player index. Single-threaded,
/// as a grain uses it.
/// </summary>
/// <remarks>
/// Nodes are structs in one array, linked by index, and a player keeps its slot for good (a better
/// entry is unlinked, rewritten in place and relinked). With 1,000,000 entries that leaves the
/// garbage collector two strings per player and a handful of arrays to trace instead of millions of
/// node and entry objects, and a write never allocates.
/// </remarks>
public sealed class RankedSet
{
    public const int NoSlot = -1;
    private const int None = NoSlot;

    private readonly Dictionary<string, int> _slotOf = new(StringComparer.Ordinal);
    private readonly Random _random = new();
    private Node[] _nodes = [];
    private string[] _playerIds = [];
    private string[] _displayNames = [];
    private int _root = None;

    public int Count => _slotOf.Count;

    /// <summary>
    /// The player's slot, or <see cref="NoSlot"/>: a handle for the player's entry that stays valid until
    /// <see cref="Load"/>, so that a caller that looks a player up once need not hash the id again.
    /// </summary>
    public int SlotOf(string playerId) => _slotOf.TryGetValue(playerId, out var slot) ? slot : NoSlot;

    /// <summary>Whether <paramref name="entry"/> would improve on the entry in <paramref name="slot"/> (the player's, or <see cref="NoSlot"/>).</summary>
    public bool WouldImprove(RankedEntry entry, int slot) => slot == NoSlot || Beats(entry, in _nodes[slot]);

    /// <summary>Makes <paramref name="entry"/> the player's entry, replacing any previous one.</summary>
    public void Set(RankedEntry entry) => Place(entry, SlotOf(entry.PlayerId));

    /// <summary>Makes <paramref name="entry"/> the player's entry if it beats the current one (one index lookup); whether it did.</summary>
    public bool Improve(RankedEntry entry)
    {
        var slot = SlotOf(entry.PlayerId);
        return Improve(entry, ref slot);
    }

    /// <summary>
    /// <see cref="Improve(RankedEntry)"/> for a player whose <paramref name="slot"/> was looked up before;
    /// <see cref="NoSlot"/> is looked up again (the player may have been added since) and set to the slot the player gets.
    /// </summary>
    public bool Improve(RankedEntry entry, ref int slot)
    {
        if (slot == None && !_slotOf.TryGetValue(entry.PlayerId, out slot))
        {
            slot = Place(entry, None);
            return true;
        }

        if (!Beats(entry, in _nodes[slot]))
        {
            return false;
        }

        Place(entry, slot);
        return true;
    }

    private static bool Beats(RankedEntry entry, in Node current) =>
        entry.Score > current.Score || (entry.Score == current.Score && entry.AchievedAt < current.AchievedAt);

    /// <summary>1-based rank of the player's entry, or 0 when the player has none.</summary>
    public long RankOf(string playerId) => _slotOf.TryGetValue(playerId, out var slot) ? RankOfSlot(slot) : 0;

    /// <summary>The player's entry and its 1-based rank with one index lookup, or null when the player has none.</summary>
    public (RankedEntry Entry, long Rank)? Standing(string playerId) =>
        _slotOf.TryGetValue(playerId, out var slot) ? (EntryAt(slot), RankOfSlot(slot)) : null;

    /// <summary>The score and 1-based rank of the entry in <paramref name="slot"/> (a player's, not <see cref="NoSlot"/>).</summary>
    public (long Score, long Rank) StandingAt(int slot) => (_nodes[slot].Score, RankOfSlot(slot));

    /// <summary>Puts <paramref name="entry"/> into <paramref name="slot"/> (the player's), or a new slot when <see cref="None"/>; the slot used.</summary>
    private int Place(RankedEntry entry, int slot)
    {
        if (slot != None)
        {
            _root = Remove(_root, slot);
        }
        else
        {
            slot = Count;
            EnsureCapacity(slot + 1);
            _slotOf.Add(entry.PlayerId, slot);
            _playerIds[slot] = entry.PlayerId;
        }

        _displayNames[slot] = entry.DisplayName;
        _nodes[slot] = new Node(entry.Score, entry.AchievedAt, _random.Next());
        _root = Insert(_root, slot);
        return slot;
    }

    private long RankOfSlot(int target)
    {
        long before = 0;
        var node = _root;
        while (node != None)
        {
            var order = Compare(target, node);
            if (order == 0)
            {
                return before + Size(_nodes[node].Left) + 1;
            }

            if (order < 0)
            {
                node = _nodes[node].Left;
            }
            else
            {
                before += Size(_nodes[node].Left) + 1;
                node = _nodes[node].Right;
            }
        }

        throw new InvalidOperationException("player index and tree disagree");
    }

    /// <summary>Up to <paramref name="count"/> entries in board order starting at 0-based position <paramref name="start"/>.</summary>
    public List<RankedEntry> Range(long start, int count)
    {
        // Descend to the start position, stacking the ancestors still to be visited in order.
        var page = new List<RankedEntry>(Math.Clamp(count, 0, Count));
        var stack = new Stack<int>();
        var node = _root;
        var skip = start;
        while (node != None)
        {
            var leftSize = Size(_nodes[node].Left);
            if (skip < leftSize)
            {
                stack.Push(node);
                node = _nodes[node].Left;
            }
            else if (skip == leftSize)
            {
                stack.Push(node);
                break;
            }
            else
            {
                skip -= leftSize + 1;
                node = _nodes[node].Right;
            }
        }

        while (page.Count < count && stack.TryPop(out var next))
        {
            page.Add(EntryAt(next));
            for (var child = _nodes[next].Right; child != None; child = _nodes[child].Left)
            {
                stack.Push(child);
            }
        }

        return page;
    }

    /// <summary>Replaces the contents with <paramref name="entries"/> (one per player) in O(n log n) for the sort, O(n) for the tree.</summary>
    public void Load(IReadOnlyCollection<RankedEntry> entries)
    {
        _slotOf.Clear();
        _slotOf.EnsureCapacity(entries.Count);
        (_nodes, _playerIds, _displayNames) = ([], [], []);
        EnsureCapacity(entries.Count);
        foreach (var entry in entries)
        {
            var slot = _slotOf.Count;
            _slotOf.Add(entry.PlayerId, slot);
            _playerIds[slot] = entry.PlayerId;
            _displayNames[slot] = entry.DisplayName;
            _nodes[slot] = new Node(entry.Score, entry.AchievedAt, _random.Next());
        }

        var order = new int[Count];
        for (var i = 0; i < order.Length; i++)
        {
            order[i] = i;
        }

        Array.Sort(order, Compare);

        // Cartesian-tree construction: keys arrive in order, the stack holds the right spine.
        var spine = new Stack<int>();
        foreach (var slot in order)
        {
            var last = None;
            while (spine.Count > 0 && _nodes[spine.Peek()].Priority < _nodes[slot].Priority)
            {
                last = spine.Pop();
            }

            _nodes[slot].Left = last;
            if (spine.Count > 0)
            {
                _nodes[spine.Peek()].Right = slot;
            }

            spine.Push(slot);
        }

        _root = spine.Count > 0 ? spine.Last() : None;
        FixSizes(_root);
    }

    private RankedEntry EntryAt(int slot) => new(_playerIds[slot], _displayNames[slot], _nodes[slot].Score, _nodes[slot].AchievedAt);

    /// <summary>Board order of two slots, as <see cref="RankedEntry.Compare"/>.</summary>
    private int Compare(int a, int b)
    {
        ref var x = ref _nodes[a];
        ref var y = ref _nodes[b];
        var order = y.Score.CompareTo(x.Score);
        if (order == 0)
        {
            order = x.AchievedAt.CompareTo(y.AchievedAt);
        }

        return order != 0 ? order : string.CompareOrdinal(_playerIds[a], _playerIds[b]);
    }

    private void EnsureCapacity(int capacity)
    {
        if (capacity <= _nodes.Length)
        {
            return;
        }

        var size = Math.Max(capacity, Math.Max(16, _nodes.Length * 2));
        var nodes = HugePageArrays.AllocateUninitialized<Node>(size); // a slot is written before it is linked
        _nodes.CopyTo(nodes, 0);
        _nodes = nodes;
        Array.Resize(ref _playerIds, size);
        Array.Resize(ref _displayNames, size);
    }

    private int FixSizes(int node) =>
        node == None ? 0 : _nodes[node].Size = 1 + FixSizes(_nodes[node].Left) + FixSizes(_nodes[node].Right);

    private int Size(int node) => node == None ? 0 : _nodes[node].Size;

    private int Update(int node)
    {
        _nodes[node].Size = 1 + Size(_nodes[node].Left) + Size(_nodes[node].Right);
        return node;
    }

    private int Insert(int root, int node)
    {
        if (root == None)
        {
            return node;
        }

        if (_nodes[node].Priority > _nodes[root].Priority)
        {
            (_nodes[node].Left, _nodes[node].Right) = Split(root, node);
            return Update(node);
        }

        if (Compare(node, root) < 0)
        {
            _nodes[root].Left = Insert(_nodes[root].Left, node);
        }
        else
        {
            _nodes[root].Right = Insert(_nodes[root].Right, node);
        }

        return Update(root);
    }

    private int Remove(int root, int node)
    {
        if (root == node)
        {
            return Merge(_nodes[root].Left, _nodes[root].Right);
        }

        if (Compare(node, root) < 0)
        {
            _nodes[root].Left = Remove(_nodes[root].Left, node);
        }
        else
        {
            _nodes[root].Right = Remove(_nodes[root].Right, node);
        }

        return Update(root);
    }

    /// <summary>Splits into (slots before <paramref name="key"/>, the rest).</summary>
    private (int Before, int After) Split(int root, int key)
    {
        if (root == None)
        {
            return (None, None);
        }

        if (Compare(root, key) < 0)
        {
            (_nodes[root].Right, var rest) = Split(_nodes[root].Right, key);
            return (Update(root), rest);
        }

        var (before, left) = Split(_nodes[root].Left, key);
        _nodes[root].Left = left;
        return (before, Update(root));
    }

    private int Merge(int left, int right)
    {
        if (left == None || right == None)
        {
            return left == None ? right : left;
        }

        if (_nodes[left].Priority > _nodes[right].Priority)
        {
            _nodes[left].Right = Merge(_nodes[left].Right, right);
            return Update(left);
        }

        _nodes[right].Left = Merge(left, _nodes[right].Left);
        return Update(right);
    }

    /// <summary>A tree node: the entry's sort key (the player id lives in a parallel array) and its links.</summary>
    private struct Node(long score, long achievedAt, int priority)
    {
        public readonly long Score = score;
        public readonly long AchievedAt = achievedAt;
        public readonly int Priority = priority;
        public int Left = None;
        public int Right = None;
        public int Size = 1;
    }
}
