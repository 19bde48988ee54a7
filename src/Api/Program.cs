using PlayMusic.Api;

if (await AdminCommands.TryRunAsync(args) is { } exitCode)
{
    return exitCode;
}

await PlayMusicApp.Build(args).RunAsync();
return 0;
