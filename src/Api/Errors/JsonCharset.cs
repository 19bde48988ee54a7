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
            && MediaTypeHeaderValue.TryParse(request.ContentType, out var mediaType)
            && IsJson(mediaType)
            && mediaType.Charset.HasValue)
        {
            if (Declared(mediaType, out var refusal) is not { } encoding)
            {
                await refusal!.ExecuteAsync(context);
                return;
            }

            // The framework's reader knows encodings by their .NET names only (not "utf8", not quoted).
            if (!mediaType.Charset.Equals(encoding.WebName, StringComparison.OrdinalIgnoreCase))
            {
                mediaType.Charset = encoding.WebName;
                request.ContentType = mediaType.ToString();
            }
        }

        await next(context);
    }

    /// <summary><c>application/json</c> or a <c>+json</c> type, as the framework's <c>HasJsonContentType</c> judges it.</summary>
    public static bool IsJson(MediaTypeHeaderValue mediaType) =>
        mediaType.MediaType.Equals("application/json", StringComparison.OrdinalIgnoreCase)
        || mediaType.Suffix.Equals("json", StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// The encoding the media type's <c>charset</c> names (quoted or not), null without one; null too when it names none
    /// this runtime knows, with the 415 to answer in <paramref name="refusal"/>. <c>utf8</c>, which browsers' encoding
    /// standard also reads as UTF-8, is UTF-8.
    /// </summary>
    public static Encoding? Declared(MediaTypeHeaderValue mediaType, out ProblemHttpResult? refusal)
    {
        refusal = null;
        if (!mediaType.Charset.HasValue)
        {
            return null;
        }

        var charset = HeaderUtilities.RemoveQuotes(mediaType.Charset).Value ?? "";
        var encoding = Named(charset);
        if (encoding is null)
        {
            refusal = ApiProblem.Create(StatusCodes.Status415UnsupportedMediaType, ApiProblem.DefaultCode(StatusCodes.Status415UnsupportedMediaType),
                $"Content-Type: charset \"{charset}\" is not an encoding this server reads; send UTF-8");
        }

        return encoding;
    }

    private static Encoding? Named(string charset)
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
}
