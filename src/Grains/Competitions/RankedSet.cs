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
public sealed class RankedSet
{
    private readonly Dictionary<string, Node> _byPlayer = new(StringComparer.Ordinal);
    private readonly Random _random = new();
    private Node? _root;

    public int Count => _byPlayer.Count;

    public RankedEntry? Find(string playerId) => _byPlayer.TryGetValue(playerId, out var node) ? node.Entry : null;

    /// <summary>Makes <paramref name="entry"/> the player's entry, replacing any previous one.</summary>
    public void Set(RankedEntry entry)
    {
        if (_byPlayer.TryGetValue(entry.PlayerId, out var previous))
        {
            _root = Remove(_root, previous.Entry);
        }

        var node = new Node(entry, _random.Next());
        _byPlayer[entry.PlayerId] = node;
        _root = Insert(_root, node);
    }

    /// <summary>1-based rank of the player's entry, or 0 when the player has none.</summary>
    public long RankOf(string playerId)
    {
        if (!_byPlayer.TryGetValue(playerId, out var target))
        {
            return 0;
        }

        long before = 0;
        var node = _root;
        while (node is not null)
        {
            var order = RankedEntry.Compare(target.Entry, node.Entry);
            if (order == 0)
            {
                return before + Size(node.Left) + 1;
            }

            if (order < 0)
            {
                node = node.Left;
            }
            else
            {
                before += Size(node.Left) + 1;
                node = node.Right;
            }
        }

        throw new InvalidOperationException("player index and tree disagree");
    }

    /// <summary>Up to <paramref name="count"/> entries in board order starting at 0-based position <paramref name="start"/>.</summary>
    public IEnumerable<RankedEntry> Range(long start, int count)
    {
        // Descend to the start position, stacking the ancestors still to be visited in order.
        var stack = new Stack<Node>();
        var node = _root;
        var skip = start;
        while (node is not null)
        {
            var leftSize = Size(node.Left);
            if (skip < leftSize)
            {
                stack.Push(node);
                node = node.Left;
            }
            else if (skip == leftSize)
            {
                stack.Push(node);
                break;
            }
            else
            {
                skip -= leftSize + 1;
                node = node.Right;
            }
        }

        while (count-- > 0 && stack.TryPop(out var next))
        {
            yield return next.Entry;
            for (var child = next.Right; child is not null; child = child.Left)
            {
                stack.Push(child);
            }
        }
    }

    /// <summary>Replaces the contents with <paramref name="entries"/> (one per player) in O(n log n) for the sort, O(n) for the tree.</summary>
    public void Load(IReadOnlyCollection<RankedEntry> entries)
    {
        var nodes = entries.Select(e => new Node(e, _random.Next())).ToArray();
        Array.Sort(nodes, (a, b) => RankedEntry.Compare(a.Entry, b.Entry));
        _byPlayer.Clear();
        _byPlayer.EnsureCapacity(nodes.Length);

        // Cartesian-tree construction: keys arrive in order, the stack holds the right spine.
        var spine = new List<Node>();
        foreach (var node in nodes)
        {
            _byPlayer.Add(node.Entry.PlayerId, node);
            Node? last = null;
            while (spine.Count > 0 && spine[^1].Priority < node.Priority)
            {
                last = spine[^1];
                spine.RemoveAt(spine.Count - 1);
            }

            node.Left = last;
            if (spine.Count > 0)
            {
                spine[^1].Right = node;
            }

            spine.Add(node);
        }

        _root = spine.Count > 0 ? spine[0] : null;
        FixSizes(_root);
    }

    private static int FixSizes(Node? node) =>
        node is null ? 0 : node.Size = 1 + FixSizes(node.Left) + FixSizes(node.Right);

    private static int Size(Node? node) => node?.Size ?? 0;

    private static Node Update(Node node)
    {
        node.Size = 1 + Size(node.Left) + Size(node.Right);
        return node;
    }

    private static Node Insert(Node? root, Node node)
    {
        if (root is null)
        {
            return node;
        }

        if (node.Priority > root.Priority)
        {
            (node.Left, node.Right) = Split(root, node.Entry);
            return Update(node);
        }

        if (RankedEntry.Compare(node.Entry, root.Entry) < 0)
        {
            root.Left = Insert(root.Left, node);
        }
        else
        {
            root.Right = Insert(root.Right, node);
        }

        return Update(root);
    }

    private static Node? Remove(Node? root, RankedEntry entry)
    {
        if (root is null)
        {
            return null;
        }

        var order = RankedEntry.Compare(entry, root.Entry);
        if (order == 0)
        {
            return Merge(root.Left, root.Right);
        }

        if (order < 0)
        {
            root.Left = Remove(root.Left, entry);
        }
        else
        {
            root.Right = Remove(root.Right, entry);
        }

        return Update(root);
    }

    /// <summary>Splits into (entries before <paramref name="key"/>, the rest).</summary>
    private static (Node? Before, Node? After) Split(Node? root, RankedEntry key)
    {
        if (root is null)
        {
            return (null, null);
        }

        if (RankedEntry.Compare(root.Entry, key) < 0)
        {
            (root.Right, var rest) = Split(root.Right, key);
            return (Update(root), rest);
        }

        var (before, left) = Split(root.Left, key);
        root.Left = left;
        return (before, Update(root));
    }

    private static Node? Merge(Node? left, Node? right)
    {
        if (left is null || right is null)
        {
            return left ?? right;
        }

        if (left.Priority > right.Priority)
        {
            left.Right = Merge(left.Right, right);
            return Update(left);
        }

        right.Left = Merge(left, right.Left);
        return Update(right);
    }

    private sealed class Node(RankedEntry entry, int priority)
    {
        public RankedEntry Entry { get; } = entry;
        public int Priority { get; } = priority;
        public Node? Left { get; set; }
        public Node? Right { get; set; }
        public int Size { get; set; } = 1;
    }
}
