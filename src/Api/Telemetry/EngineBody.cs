using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Net.Http.Headers;
using PlayMusic.Api.Errors;

namespace PlayMusic.Api.Telemetry;

/// <summary>
/// Reads an engine body inside its handler instead of binding it, so the handler chooses what it checks first: the
/// tokens before the body (PROTOCOL §1 answers a missing bearer token 401 and §3 a wrong perf token 403 whatever
/// was sent), and <c>text/plain</c> for beacons (what <c>navigator.sendBeacon</c> sends for a string). The rules are
/// those of bound bodies: the same JSON options, <c>INVALID_JSON</c> naming the field, 415 for a media type it does
/// not read, 413 beyond the group's size limit; a leading UTF-8 byte order mark is skipped. No body, or <c>null</c>,
/// reads as null.
/// </summary>
public static class EngineBody
{
    private static ReadOnlySpan<byte> Utf8Bom => [0xEF, 0xBB, 0xBF];

    public static async Task<(T? Body, ProblemHttpResult? Problem)> ReadAsync<T>(HttpContext context, JsonSerializerOptions options, bool textPlain = false)
        where T : class
    {
        var request = context.Request;
        if (context.Features.Get<IHttpRequestBodyDetectionFeature>() is { CanHaveBody: false })
        {
            return (null, null);
        }

        // One parse of the Content-Type serves the JSON check and the charset.
        var parsed = MediaTypeHeaderValue.TryParse(request.ContentType, out var contentType);
        var mediaType = request.ContentType?.Split(';')[0].Trim().ToLowerInvariant();
        if (!(parsed && JsonCharset.IsJson(contentType!)) && !(textPlain && mediaType is null or "" or "text/plain"))
        {
            return (null, ApiProblem.Create(StatusCodes.Status415UnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE",
                textPlain ? "body: send text/plain or application/json" : "body: send application/json"));
        }

        // As bound bodies are read: in the charset the request declares (browsers send UTF-8, the default).
        ProblemHttpResult? refusal = null;
        var encoding = parsed ? JsonCharset.Declared(contentType!, out refusal) : null;
        if (refusal is not null)
        {
            return (null, refusal);
        }

        using var buffer = new MemoryStream();
        // Beyond the group's RequestSizeLimit this throws Kestrel's 413, answered as PAYLOAD_TOO_LARGE.
        await request.Body.CopyToAsync(buffer, context.RequestAborted);
        var body = buffer.GetBuffer().AsSpan(0, (int)buffer.Length);
        if (encoding is not null && encoding.CodePage != Encoding.UTF8.CodePage)
        {
            body = Encoding.UTF8.GetBytes(encoding.GetString(body));
        }

        body = body.StartsWith(Utf8Bom) ? body[Utf8Bom.Length..] : body;
        if (body.IsEmpty)
        {
            return (null, null);
        }

        try
        {
            return (JsonSerializer.Deserialize<T>(body, options), null);
        }
        catch (JsonException json)
        {
            return (null, ApiProblem.Create(StatusCodes.Status400BadRequest, ErrorCodes.InvalidJson, ApiProblem.InvalidJsonDetail(json)));
        }
    }
}
