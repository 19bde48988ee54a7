using System.Text;
using Microsoft.Net.Http.Headers;

namespace PlayMusic.Api.Errors;

/// <summary>
/// ASP.NET Core's JSON body reader throws (a 500) on a <c>charset</c> it cannot resolve, which includes a quoted one:
/// <c>application/json; charset="utf-8"</c> is legal (RFC 9110 §5.6.6) and means UTF-8. A quoted charset is unquoted
/// here; one that names no known encoding is 415 before any endpoint reads the body.
/// </summary>
public static class JsonCharset
{
    public static async Task CheckAsync(HttpContext context, RequestDelegate next)
    {
        var request = context.Request;
        if (request.ContentType is { } contentType
            && MediaTypeHeaderValue.TryParse(contentType, out var mediaType)
            && mediaType.Charset.HasValue
            && (mediaType.MediaType.Equals("application/json", StringComparison.OrdinalIgnoreCase)
                || mediaType.Suffix.Equals("json", StringComparison.OrdinalIgnoreCase)))
        {
            var charset = HeaderUtilities.RemoveQuotes(mediaType.Charset).Value ?? "";
            if (Named(charset) is null)
            {
                await Unsupported(charset).ExecuteAsync(context);
                return;
            }

            if (charset != mediaType.Charset.Value)
            {
                mediaType.Charset = charset;
                request.ContentType = mediaType.ToString();
            }
        }

        await next(context);
    }

    /// <summary>The encoding a request's <c>charset</c> names (unquoted), or null when this runtime knows none by that name.</summary>
    public static Encoding? Named(string charset)
    {
        try
        {
            return charset.Length > 0 ? Encoding.GetEncoding(charset) : null;
        }
        catch (Exception e) when (e is ArgumentException or NotSupportedException)
        {
            return null;
        }
    }

    public static ProblemHttpResult Unsupported(string charset) =>
        ApiProblem.Create(StatusCodes.Status415UnsupportedMediaType, ApiProblem.DefaultCode(StatusCodes.Status415UnsupportedMediaType),
            $"Content-Type: charset \"{charset}\" is not an encoding this server reads; send UTF-8");
}
