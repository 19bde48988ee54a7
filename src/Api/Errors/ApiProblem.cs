namespace PlayMusic.Api.Errors;

/// <summary>
/// The project's problem+json responses: every error carries a stable UPPER_SNAKE <c>code</c>
/// (PROTOCOL conventions) beside the RFC 9457 fields.
/// </summary>
public static class ApiProblem
{
    public const string CodeKey = "code";

    public static ProblemHttpResult Invalid(string field, string sentence) =>
        Create(StatusCodes.Status400BadRequest, ErrorCodes.InvalidArgument, $"{field}: {sentence}");

    /// <summary>An absent, empty or <c>null</c> body where an object is expected.</summary>
    public static ProblemHttpResult MissingBody() => Invalid("body", "must be a JSON object");

    /// <summary>The detail of an <c>INVALID_JSON</c> answer: the field where reading stopped, or <c>body</c>.</summary>
    public static string InvalidJsonDetail(System.Text.Json.JsonException json)
    {
        var field = string.IsNullOrEmpty(json.Path) || json.Path == "$" ? "body" : json.Path.TrimStart('$', '.');
        return $"{field}: the request body is not valid JSON of the expected shape";
    }

    public static ProblemHttpResult NotFound(string detail) =>
        Create(StatusCodes.Status404NotFound, ErrorCodes.NotFound, detail);

    public static ProblemHttpResult Forbidden(string detail) =>
        Create(StatusCodes.Status403Forbidden, ErrorCodes.Forbidden, detail);

    public static ProblemHttpResult Conflict(string code, string detail) =>
        Create(StatusCodes.Status409Conflict, code, detail);

    public static ProblemHttpResult Create(int status, string code, string detail) =>
        TypedResults.Problem(detail: detail, statusCode: status, extensions: new Dictionary<string, object?> { [CodeKey] = code });

    /// <summary>The code an error gets when the handler that produced it did not name one.</summary>
    public static string DefaultCode(int status) => status switch
    {
        400 => ErrorCodes.InvalidArgument,
        401 => ErrorCodes.Unauthorized,
        403 => ErrorCodes.Forbidden,
        404 => ErrorCodes.NotFound,
        405 => "METHOD_NOT_ALLOWED",
        409 => "CONFLICT",
        413 => "PAYLOAD_TOO_LARGE",
        415 => "UNSUPPORTED_MEDIA_TYPE",
        429 => ErrorCodes.RateLimited,
        503 => "UNAVAILABLE",
        >= 500 => ErrorCodes.Internal,
        _ => "ERROR",
    };
}

public static class ErrorCodes
{
    public const string InvalidArgument = "INVALID_ARGUMENT";
    public const string InvalidJson = "INVALID_JSON";
    public const string Unauthorized = "UNAUTHORIZED";
    public const string Forbidden = "FORBIDDEN";
    public const string NotFound = "NOT_FOUND";
    public const string RateLimited = "RATE_LIMITED";
    public const string Internal = "INTERNAL_ERROR";
}
