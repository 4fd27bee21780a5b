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
    private readonly Action<string> _sink;
    private readonly TimeProvider _time;
    private readonly LogLevel _minimum;

    /// <summary>A log that hands each line to <paramref name="sink"/>.</summary>
    public AgentLog(Action<string> sink, TimeProvider? time = null, LogLevel minimum = LogLevel.Info)
    {
        ArgumentNullException.ThrowIfNull(sink);
        _sink = sink;
        _time = time ?? TimeProvider.System;
        _minimum = minimum;
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
        return new AgentLog(line =>
        {
            var bytes = new byte[Encoding.UTF8.GetByteCount(line) + 1];
            Encoding.UTF8.GetBytes(line, bytes);
            bytes[^1] = (byte)'\n';
            lock (error)
            {
                error.Write(bytes);
                error.Flush();
            }
        }, minimum: minimum);
    }

    /// <summary>A log that drops everything.</summary>
    public static AgentLog None { get; } = new(_ => { }, minimum: LogLevel.Error + 1);

    /// <summary>Writes one line.</summary>
    public void Write(LogLevel level, string eventName, string message, params ReadOnlySpan<(string Key, object? Value)> fields)
    {
        if (level < _minimum)
            return;
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
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
        }
        _sink(Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length));
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
