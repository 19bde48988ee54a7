using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace PlayMusic.Grains.Competitions;

/// <summary>
/// Large arrays that are read at random (a big board's keys and blocks), backed by 2 MiB pages where Linux
/// allows it (transparent huge pages in the default <c>madvise</c> mode). With 4 KiB pages a random
/// read into a 32 MiB array is a cache miss plus a TLB miss, whose page-table walk is nested under
/// virtualisation; with 2 MiB pages the whole array fits the TLB. Measured on the leaderboard bench.
/// </summary>
internal static class HugePageArrays
{
    private const int HugePageSize = 2 << 20;
    private const int MadviseHugePage = 14; // MADV_HUGEPAGE

    /// <summary>
    /// A new array of <paramref name="length"/> elements whose contents are unspecified (the caller writes
    /// an element before reading it). Pinned, so that the advised address range stays the array's.
    /// </summary>
    public static T[] AllocateUninitialized<T>(int length) where T : unmanaged
    {
        var bytes = (long)length * Unsafe.SizeOf<T>();
        if (!OperatingSystem.IsLinux() || bytes < 2L * HugePageSize)
        {
            return GC.AllocateUninitializedArray<T>(length);
        }

        // Advised before anything touches the pages, so that the first writes fault in huge pages.
        var array = GC.AllocateUninitializedArray<T>(length, pinned: true);
        var address = (long)Marshal.UnsafeAddrOfPinnedArrayElement(array, 0);
        var start = (address + HugePageSize - 1) & ~(long)(HugePageSize - 1);
        var end = (address + bytes) & ~(long)(HugePageSize - 1);
        if (end > start)
        {
            _ = Madvise((nint)start, (nuint)(end - start), MadviseHugePage); // advice only: ignored where unsupported
        }

        return array;
    }

    // DllImport rather than LibraryImport: blittable arguments need no generated marshalling (nor unsafe code).
    [DllImport("libc", EntryPoint = "madvise")]
    private static extern int Madvise(nint address, nuint length, int advice);
}
