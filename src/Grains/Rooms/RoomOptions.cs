namespace PlayMusic.Grains.Rooms;

public sealed class RoomOptions
{
    /// <summary>How long a disconnected seat waits for a Resume (<c>PLAYMUSIC_SEAT_GRACE_SECONDS</c>, default 30).</summary>
    public TimeSpan SeatGrace { get; set; } = TimeSpan.FromSeconds(30);
}
