using System.Buffers;
using System.Text;
using System.Text.Json;

namespace Fathom.Agent;

/// <summary>How much a log line matters.</summary>
public enum LogLevel
{
    /// <summary>Detail for whoever debugs the agent.</summary>
    Debug,

    /// <summary>Something the agent did.</summary>
    Info,

    /// <summary>Something unexpected the agent dealt with (a quarantined file, a retried teardown).</summary>
    Warning,

    /// <summary>Something the agent could not deal with.</summary>
    Error,
}

/// <summary>
/// Structured logs: one JSON object per line (<c>time</c>, <c>level</c>, <c>event</c>, <c>msg</c>, then
/// the event's fields), written with <see cref="Utf8JsonWriter"/> so it stays AOT-clean. <c>event</c>
/// is a stable dotted name (<c>state.quarantined</c>) that alerts and tests match on; <c>msg</c> is for people.
/// </summary>
public sealed class AgentLog
{
    // A line is built in its thread's buffer and handed on from there: nothing is allocated per
    // line but the fields' own strings. (Before, a MemoryStream grown from 256 bytes, the writer's
    // own buffer, the line as a string and its bytes again for stderr: perf of the agent serving 40
    // underlay ADD+DELs put 21 % of its serving threads' samples in AgentLog.Write, most of them in
    // the buffers' growth and the collections it set off; scripts/agent-profile.sh.)
    [ThreadStatic] private static ArrayBufferWriter<byte>? t_buffer;
    [ThreadStatic] private static Utf8JsonWriter? t_json;
    [ThreadStatic] private static bool t_building;

    // A thread's buffer grown past this by a long line (a message quoting a whole cloud error) is dropped after it, not kept.
    private const int KeptBufferBytes = 16 * 1024;

    private readonly LineSink _sink;
    private readonly TimeProvider _time;
    private readonly LogLevel _minimum;

    /// <summary>Receives one line, UTF-8, its newline included; the span is valid during the call only.</summary>
    private delegate void LineSink(ReadOnlySpan<byte> line);

    /// <summary>A log that hands each line to <paramref name="sink"/> (without its newline).</summary>
    public AgentLog(Action<string> sink, TimeProvider? time = null, LogLevel minimum = LogLevel.Info)
        : this(ToStrings(sink), time, minimum)
    {
    }

    private AgentLog(LineSink sink, TimeProvider? time, LogLevel minimum)
    {
        _sink = sink;
        _time = time ?? TimeProvider.System;
        _minimum = minimum;
    }

    private static LineSink ToStrings(Action<string> sink)
    {
        ArgumentNullException.ThrowIfNull(sink);
        return line => sink(Encoding.UTF8.GetString(line[..^1]));
    }

    /// <summary>
    /// A log to standard error, the agent's default: each line in one write(2), newline included.
    /// Console.Error's writer flushes every 256 characters, so a line of an allocation (≈ 400 bytes)
    /// took two writes, and a reader of a pipe shared with another writer (a log shipper, a
    /// supervisor's stream) could find it cut; one write of at most PIPE_BUF bytes never is.
    /// </summary>
    public static AgentLog ToStandardError(LogLevel minimum = LogLevel.Info)
    {
        var error = Console.OpenStandardError();
        return new AgentLog((LineSink)(line =>
        {
            lock (error)
            {
                error.Write(line);
                error.Flush();
            }
        }), null, minimum);
    }

    /// <summary>A log that drops everything.</summary>
    public static AgentLog None { get; } = new(_ => { }, minimum: LogLevel.Error + 1);

    /// <summary>Writes one line.</summary>
    public void Write(LogLevel level, string eventName, string message, params ReadOnlySpan<(string Key, object? Value)> fields)
    {
        if (level < _minimum)
            return;
        // A line written while this thread builds another (a field's ToString that logs) gets buffers of its own.
        var nested = t_building;
        var buffer = nested ? new ArrayBufferWriter<byte>(1024) : t_buffer ??= new ArrayBufferWriter<byte>(1024);
        var json = nested ? new Utf8JsonWriter(buffer) : t_json ??= new Utf8JsonWriter(buffer);
        buffer.ResetWrittenCount();
        json.Reset(buffer);
        t_building = true;
        try
        {
            json.WriteStartObject();
            json.WriteString("time", _time.GetUtcNow());
            json.WriteString("level", level switch
            {
                LogLevel.Debug => "debug",
                LogLevel.Info => "info",
                LogLevel.Warning => "warning",
                _ => "error",
            });
            json.WriteString("event", eventName);
            json.WriteString("msg", message);
            foreach (var (key, value) in fields)
            {
                switch (value)
                {
                    case null:
                        json.WriteNull(key);
                        break;
                    case int i:
                        json.WriteNumber(key, i);
                        break;
                    case long l:
                        json.WriteNumber(key, l);
                        break;
                    case double d:
                        json.WriteNumber(key, d);
                        break;
                    case bool b:
                        json.WriteBoolean(key, b);
                        break;
                    default:
                        json.WriteString(key, value.ToString());
                        break;
                }
            }
            json.WriteEndObject();
            json.Flush();
            buffer.Write("\n"u8);
            _sink(buffer.WrittenSpan);
        }
        finally
        {
            t_building = nested;
            if (!nested && buffer.Capacity > KeptBufferBytes)
            {
                t_buffer = null;
                t_json = null;
            }
        }
    }

    /// <summary>Writes an <see cref="LogLevel.Info"/> line.</summary>
    public void Info(string eventName, string message, params ReadOnlySpan<(string Key, object? Value)> fields) =>
        Write(LogLevel.Info, eventName, message, fields);

    /// <summary>Writes a <see cref="LogLevel.Warning"/> line.</summary>
    public void Warning(string eventName, string message, params ReadOnlySpan<(string Key, object? Value)> fields) =>
        Write(LogLevel.Warning, eventName, message, fields);

    /// <summary>Writes an <see cref="LogLevel.Error"/> line.</summary>
    public void Error(string eventName, string message, params ReadOnlySpan<(string Key, object? Value)> fields) =>
        Write(LogLevel.Error, eventName, message, fields);
}
