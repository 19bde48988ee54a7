using Microsoft.AspNetCore.Http;

namespace PlayMusic.Hosting;

/// <summary>Every 503, the API's and the readiness probe's, says when to send the same request again.</summary>
public static class RetryAdvice
{
    public static void AskToRetry(HttpResponse response) => response.Headers.RetryAfter = "5";
}
