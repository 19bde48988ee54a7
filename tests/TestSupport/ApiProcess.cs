using System.Diagnostics;
using System.Text;

namespace PlayMusic.TestSupport;

/// <summary>
/// The API as a separate operating-system process, for tests where a crash is the point:
/// <see cref="Kill"/> is SIGKILL, so nothing in the process gets to flush or say goodbye.
/// </summary>
public sealed class ApiProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();
    private bool _disposed;

    private ApiProcess(Process process, Uri baseAddress)
    {
        _process = process;
        BaseAddress = baseAddress;
        process.OutputDataReceived += (_, e) => Append(e.Data);
        process.ErrorDataReceived += (_, e) => Append(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    public Uri BaseAddress { get; }

    public int Id => _process.Id;

    public string Output
    {
        get { lock (_output) { return _output.ToString(); } }
    }

    /// <summary>Starts <c>PlayMusic.Api.dll</c> (or another project's dll) and waits until <c>/readyz</c> answers 200.</summary>
    public static async Task<ApiProcess> StartAsync(IReadOnlyDictionary<string, string?> settings, string assembly = "PlayMusic.Api", string project = "Api")
    {
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(RepositoryPaths.ProjectOutput(project, assembly + ".dll"));
        foreach (var (key, value) in settings)
        {
            info.Environment[key] = value;
        }

        var url = settings.TryGetValue("PLAYMUSIC_URLS", out var urls) && urls is not null ? urls : throw new ArgumentException("PLAYMUSIC_URLS is required");
        var baseAddress = new Uri(url);
        var process = Process.Start(info) ?? throw new InvalidOperationException("could not start dotnet");
        ApiProcess api;
        try
        {
            api = new ApiProcess(process, baseAddress);
        }
        catch
        {
            KillTree(process);
            process.Dispose();
            throw;
        }

        try
        {
            await api.WaitUntilReadyAsync(TimeSpan.FromSeconds(60));
            return api;
        }
        catch
        {
            // A node that never became ready must not outlive the test: it would keep its ports, its
            // cluster membership and its database connections, and load the machine for later tests.
            await api.DisposeAsync();
            throw;
        }
    }

    public async Task WaitUntilReadyAsync(TimeSpan timeout)
    {
        using var http = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(2) };
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"the process exited with {_process.ExitCode}:\n{Output}");
            }

            try
            {
                using var response = await http.GetAsync("/readyz");
                if (response.IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
            }
            catch (TaskCanceledException)
            {
            }

            await Task.Delay(200);
        }

        throw new TimeoutException($"{BaseAddress} was not ready within {timeout}:\n{Output}");
    }

    /// <summary>SIGTERM, as an orchestrator stops a pod: the host shuts down gracefully; waits for the exit.</summary>
    public async Task StopAsync(TimeSpan timeout)
    {
        if (_process.HasExited)
        {
            return;
        }

        using (var kill = Process.Start("kill", ["-TERM", _process.Id.ToString()]))
        {
            await kill.WaitForExitAsync();
        }

        using var cts = new CancellationTokenSource(timeout);
        await _process.WaitForExitAsync(cts.Token);
    }

    /// <summary>SIGKILL: the process dies at once, mid-whatever.</summary>
    public void Kill() => KillTree(_process);

    public ValueTask DisposeAsync()
    {
        if (!_disposed)
        {
            _disposed = true;
            Kill();
            _process.Dispose();
        }

        return ValueTask.CompletedTask;
    }

    private static void KillTree(Process process)
    {
        try
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        }
        catch (InvalidOperationException)
        {
            // It exited between the check and the kill.
        }

        process.WaitForExit();
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_output)
        {
            _output.AppendLine(line);
        }
    }
}
