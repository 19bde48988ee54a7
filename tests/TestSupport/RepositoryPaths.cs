namespace PlayMusic.TestSupport;

public static class RepositoryPaths
{
    /// <summary>The folder holding PlayMusic.sln, found by walking up from the test binaries.</summary>
    public static string Root { get; } = FindRoot();

    /// <summary>The build configuration the tests were built with (Debug or Release).</summary>
    public static string Configuration { get; } =
        new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar)).Parent!.Name;

    /// <summary>A file in a project's build output, e.g. <c>ProjectOutput("Api", "PlayMusic.Api.dll")</c>.</summary>
    public static string ProjectOutput(string project, string file)
    {
        var path = Path.Combine(Root, "src", project, "bin", Configuration, "net10.0", file);
        return File.Exists(path) ? path : throw new FileNotFoundException($"build src/{project} first", path);
    }

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "PlayMusic.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("PlayMusic.sln not found above " + AppContext.BaseDirectory);
    }
}
