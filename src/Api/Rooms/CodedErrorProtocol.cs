using System.Buffers;
using System.Diagnostics.CodeAnalysis;
using System.Text.Json;
using System.Text.RegularExpressions;
using MessagePack;
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
        var start = input;
        if (!inner.TryParseMessage(ref input, binder, out message))
        {
            return false;
        }

        if (message is InvocationBindingFailureMessage { BindingFailure.SourceException: InvalidDataException { Message: var failure } } unbound
            && failure.StartsWith(NoArgumentForOne, StringComparison.Ordinal))
        {
            // A stream() call stays one, so SignalR refuses it as such (none of our methods streams) instead of running it.
            message = IsStreamInvocation(start.Slice(0, input.Start))
                ? new StreamInvocationMessage(unbound.InvocationId!, unbound.Target, [null])
                : new InvocationMessage(unbound.InvocationId, unbound.Target, [null]);
        }

        return true;
    }

    /// <summary>
    /// Whether one framed message is a stream invocation (type 4): the binding failure it was parsed into does not say.
    /// JSON: an object ending in the record separator; MessagePack: a varint length, then an array led by the type.
    /// </summary>
    private bool IsStreamInvocation(ReadOnlySequence<byte> frame)
    {
        const int StreamInvocation = HubProtocolConstants.StreamInvocationMessageType;
        try
        {
            if (TransferFormat == TransferFormat.Text)
            {
                var reader = new Utf8JsonReader(frame.Slice(0, frame.Length - 1));
                reader.Read();
                while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                {
                    var isType = reader.ValueTextEquals("type"u8);
                    reader.Read();
                    if (isType)
                    {
                        return reader.TokenType == JsonTokenType.Number && reader.GetInt32() == StreamInvocation;
                    }

                    reader.Skip();
                }

                return false;
            }

            var lengthBytes = 0;
            foreach (var segment in frame)
            {
                foreach (var b in segment.Span)
                {
                    lengthBytes++;
                    if ((b & 0x80) == 0)
                    {
                        var payload = new MessagePackReader(frame.Slice(lengthBytes));
                        return payload.ReadArrayHeader() > 0 && payload.ReadInt32() == StreamInvocation;
                    }
                }
            }

            return false;
        }
        catch (Exception e) when (e is JsonException or MessagePackSerializationException or EndOfStreamException)
        {
            return false;
        }
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
