// One test class at a time: each starts a cluster of several dotnet processes, and two at once on a
// 2-CPU machine starve each other's membership probes and stretch the stalls the failover tests wait out.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
