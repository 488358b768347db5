/**
 * The default Logger: one line per record on the console, filtered by level.
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

/** A Logger writing `prefix level message key=value...` lines to the console. */
export function consoleLogger(options: ConsoleLoggerOptions = {}): Logger {
  const envLevel = process.env["TSGRID_LOG_LEVEL"];
  const level = options.level ?? (isLevel(envLevel) ? envLevel : "info");
  const threshold = LogLevel[level];
  const prefix = options.prefix ?? "tsgrid";
  const line = (name: LogLevel, message: string, fields?: Record<string, unknown>): string =>
    `${prefix} ${name} ${message}${render(fields)}`;
  const noop = (): void => {};
  return {
    debug: threshold <= LogLevel.debug ? (m, f) => console.debug(line("debug", m, f)) : noop,
    info: threshold <= LogLevel.info ? (m, f) => console.info(line("info", m, f)) : noop,
    warn: threshold <= LogLevel.warn ? (m, f) => console.warn(line("warn", m, f)) : noop,
    error: threshold <= LogLevel.error ? (m, f) => console.error(line("error", m, f)) : noop,
  };
}

/** A Logger that drops everything (tests, or when the host application logs elsewhere). */
export const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
};
