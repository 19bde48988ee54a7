using System.Diagnostics;
using Microsoft.AspNetCore.Http;

namespace PlayMusic.Hosting;

/// <summary>
/// The <c>traceId</c> of a problem+json answer written by hand: the id ASP.NET Core's problem details carry (the
/// W3C <c>traceparent</c> of the request's activity), so a reported answer can be found in the traces and logs.
/// </summary>
public static class TraceIds
{
    public static string Of(HttpContext context) => Activity.Current?.Id ?? context.TraceIdentifier;
}
