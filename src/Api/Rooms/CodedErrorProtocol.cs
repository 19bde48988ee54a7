using System.Buffers;
using System.Diagnostics.CodeAnalysis;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Protocol;

namespace PlayMusic.Api.Rooms;

/// <summary>
/// Wraps a hub protocol so that a failed invocation's error is exactly <c>CODE: sentence</c>, as PROTOCOL §2
/// promises. SignalR itself prefixes a HubException's message with "An unexpected error occurred invoking
/// 'X' on the server. HubException: ", and reports an unbindable argument without any code.
/// </summary>
public sealed partial class CodedErrorProtocol(IHubProtocol inner) : IHubProtocol
{
    private const string HubExceptionMarker = "HubException: ";

    /// <summary>What both SignalR protocols say of an invocation without arguments for a one-parameter method.</summary>
    private const string NoArgumentForOne = "Invocation provides 0 argument(s) but target expects 1.";

    public string Name => inner.Name;

    public int Version => inner.Version;

    public TransferFormat TransferFormat => inner.TransferFormat;

    /// <summary>
    /// PROTOCOL §2: every method takes one argument object "or none". Our methods take it as a nullable
    /// object, so a call without one is bound as a null argument (each method then says what it misses).
    /// </summary>
    public bool TryParseMessage(ref ReadOnlySequence<byte> input, IInvocationBinder binder, [NotNullWhen(true)] out HubMessage? message)
    {
        if (!inner.TryParseMessage(ref input, binder, out message))
        {
            return false;
        }

        if (message is InvocationBindingFailureMessage { BindingFailure.SourceException: InvalidDataException { Message: var failure } } unbound
            && failure.StartsWith(NoArgumentForOne, StringComparison.Ordinal))
        {
            message = new InvocationMessage(unbound.InvocationId, unbound.Target, [null]);
        }

        return true;
    }

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
            var sentence = error[(marker + HubExceptionMarker.Length)..];
            // Our HubExceptions carry a code already; SignalR's own ones (unknown method, wrong argument count) do not.
            return CompletionMessage.WithError(completion.InvocationId!, CodePrefix().IsMatch(sentence) ? sentence : $"INVALID_ARGUMENT: {sentence}");
        }

        // SignalR reports an argument it cannot bind to the method's type as "Failed to invoke 'X' due to an error on the server."
        if (error.StartsWith("Failed to invoke '", StringComparison.Ordinal) && error.Contains("due to an error on the server", StringComparison.Ordinal))
        {
            return CompletionMessage.WithError(completion.InvocationId!, "INVALID_ARGUMENT: argument does not match the method's argument shape");
        }

        // A method called the wrong way: stream() for one that returns a single answer (none of ours streams).
        return error.StartsWith("The client attempted to invoke the ", StringComparison.Ordinal)
            ? CompletionMessage.WithError(completion.InvocationId!, $"INVALID_ARGUMENT: {error}")
            : message;
    }

    [GeneratedRegex("^[A-Z][A-Z_]+: ")]
    private static partial Regex CodePrefix();
}
