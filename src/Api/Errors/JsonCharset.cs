using System.Text;
using Microsoft.AspNetCore.Http.Metadata;
using Microsoft.Net.Http.Headers;

namespace PlayMusic.Api.Errors;

/// <summary>
/// ASP.NET Core's JSON body reader throws (a 500) on a <c>charset</c> it cannot resolve, which includes a quoted one:
/// <c>application/json; charset="utf-8"</c> is legal (RFC 9110 §5.6.6) and means UTF-8. For endpoints that bind a
/// body (after authentication and authorization have had their say) a quoted charset is unquoted here, and one that
/// names no known encoding is 415. Endpoints that read their body themselves (<c>EngineBody</c>) and requests to
/// endpoints without a body are left alone.
/// </summary>
public static class JsonCharset
{
    public static async Task CheckAsync(HttpContext context, RequestDelegate next)
    {
        var request = context.Request;
        if (context.GetEndpoint()?.Metadata.GetMetadata<IAcceptsMetadata>() is not null
            && request.ContentType is { } contentType
            && MediaTypeHeaderValue.TryParse(contentType, out var mediaType)
            && mediaType.Charset.HasValue
            && (mediaType.MediaType.Equals("application/json", StringComparison.OrdinalIgnoreCase)
                || mediaType.Suffix.Equals("json", StringComparison.OrdinalIgnoreCase)))
        {
            var charset = HeaderUtilities.RemoveQuotes(mediaType.Charset).Value ?? "";
            if (Named(charset) is not { } encoding)
            {
                await Unsupported(charset).ExecuteAsync(context);
                return;
            }

            // The framework's reader knows encodings by their .NET names only (not "utf8", not quoted).
            if (charset != mediaType.Charset.Value || !charset.Equals(encoding.WebName, StringComparison.OrdinalIgnoreCase))
            {
                mediaType.Charset = encoding.WebName;
                request.ContentType = mediaType.ToString();
            }
        }

        await next(context);
    }

    /// <summary>
    /// The encoding a request's <c>charset</c> names (unquoted), or null when this runtime knows none by that name;
    /// <c>utf8</c>, which browsers' encoding standard also reads as UTF-8, included.
    /// </summary>
    public static Encoding? Named(string charset)
    {
        if (charset.Equals("utf8", StringComparison.OrdinalIgnoreCase))
        {
            return Encoding.UTF8;
        }

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
