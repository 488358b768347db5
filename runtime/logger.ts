/**
 * The default Logger: one line per record on standard error, filtered by level.
 *
 * Standard error, not standard output, at every level: a program's own output (a JSON
 * report piped to another tool, a CLI's answer) must never be mixed with tsgrid's lines.
 *
 * tsgrid never logs secrets: auth tokens are not passed to the logger at all. As a second
 * line of defence this logger also masks fields whose name looks like a credential.
 */
import type { Logger } from "./types.js";

/** Severity levels, lowest first. `silent` drops everything. */
export const LogLevel = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 } as const;
export type LogLevel = keyof typeof LogLevel;

export interface ConsoleLoggerOptions {
  /** Records below this level are dropped. Default: `$TSGRID_LOG_LEVEL`, else `"info"`. */
  level?: LogLevel;
  /** Prefix of every line. Default `"tsgrid"`. */
  prefix?: string;
  /** Where the lines go, one `write` per line (ending in `\n`). Default `process.stderr`. */
  stream?: { write(line: string): unknown };
}

const secretField = /token|secret|password|authorization/i;

function isLevel(value: string | undefined): value is LogLevel {
  return value !== undefined && Object.hasOwn(LogLevel, value);
}

function render(fields: Record<string, unknown> | undefined): string {
  if (fields === undefined) return "";
  const parts: string[] = [];
  for (const [key, value] of Object.entries(fields)) {
    let text: string;
    if (secretField.test(key)) text = "[redacted]";
    else if (value instanceof Error) text = JSON.stringify(value.message);
    else if (typeof value === "string") text = JSON.stringify(value);
    else {
      try {
        text = JSON.stringify(value) ?? String(value);
      } catch {
        text = String(value);
      }
    }
    parts.push(`${key}=${text}`);
  }
  return parts.length === 0 ? "" : ` ${parts.join(" ")}`;
}

/** A Logger writing `prefix level message key=value...` lines to standard error. */
export function consoleLogger(options: ConsoleLoggerOptions = {}): Logger {
  const envLevel = process.env["TSGRID_LOG_LEVEL"];
  const level = options.level ?? (isLevel(envLevel) ? envLevel : "info");
  const threshold = LogLevel[level];
  const prefix = options.prefix ?? "tsgrid";
  const stream = options.stream ?? process.stderr;
  const write = (name: LogLevel, message: string, fields?: Record<string, unknown>): void =>
    void stream.write(`${prefix} ${name} ${message}${render(fields)}\n`);
  const noop = (): void => {};
  return {
    debug: threshold <= LogLevel.debug ? (m, f) => write("debug", m, f) : noop,
    info: threshold <= LogLevel.info ? (m, f) => write("info", m, f) : noop,
    warn: threshold <= LogLevel.warn ? (m, f) => write("warn", m, f) : noop,
    error: threshold <= LogLevel.error ? (m, f) => write("error", m, f) : noop,
  };
}

/** A Logger that drops everything (tests, or when the host application logs elsewhere). */
export const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
};
