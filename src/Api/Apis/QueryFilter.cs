namespace PlayMusic.Api.Apis;

public static class QueryFilter
{
    /// <summary>An optional query filter: empty (<c>?country=</c>, as a form sends an unset field) means no filter.</summary>
    public static string? Optional(string? value) => string.IsNullOrEmpty(value) ? null : value;
}
