using System.Buffers;
using System.Diagnostics.CodeAnalysis;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Protocol;

namespace PlayMusic.Api.Rooms;

/// <summary>
/// Wraps a hub protocol so that a failed invocation's error is exactly <c>CODE: sentence</c>, as PROTOCOL §2
/// promises. SignalR itself prefixes a HubException's message with "An unexpected error occurred invoking
/// 'X' on the server. HubException: ", and reports unbindable arguments as an InvalidDataException.
/// </summary>
public sealed class CodedErrorProtocol(IHubProtocol inner) : IHubProtocol
{
    private const string HubExceptionMarker = "HubException: ";

    public string Name => inner.Name;

    public int Version => inner.Version;

    public TransferFormat TransferFormat => inner.TransferFormat;

    public bool TryParseMessage(ref ReadOnlySequence<byte> input, IInvocationBinder binder, [NotNullWhen(true)] out HubMessage? message) =>
        inner.TryParseMessage(ref input, binder, out message);

    public void WriteMessage(HubMessage message, IBufferWriter<byte> output) => inner.WriteMessage(Recode(message), output);

    public ReadOnlyMemory<byte> GetMessageBytes(HubMessage message) => inner.GetMessageBytes(Recode(message));

    public bool IsVersionSupported(int version) => inner.IsVersionSupported(version);

    /// <summary>Replaces every registered hub protocol with its coded-error wrapper.</summary>
    public static void Decorate(IServiceCollection services)
    {
        foreach (var descriptor in services.Where(d => d.ServiceType == typeof(IHubProtocol)).ToList())
        {
            services.Remove(descriptor);
            var type = descriptor.ImplementationType!;
            services.AddSingleton<IHubProtocol>(sp => new CodedErrorProtocol((IHubProtocol)ActivatorUtilities.CreateInstance(sp, type)));
        }
    }

    private static HubMessage Recode(HubMessage message)
    {
        if (message is not CompletionMessage { Error: { } error } completion)
        {
            return message;
        }

        var marker = error.IndexOf(HubExceptionMarker, StringComparison.Ordinal);
        if (marker >= 0)
        {
            return CompletionMessage.WithError(completion.InvocationId!, error[(marker + HubExceptionMarker.Length)..]);
        }

        return error.Contains("InvalidDataException", StringComparison.Ordinal)
            ? CompletionMessage.WithError(completion.InvocationId!, "INVALID_ARGUMENT: argument does not match the method's argument shape")
            : message;
    }
}
