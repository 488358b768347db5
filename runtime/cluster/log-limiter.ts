/**
 * Rate-limited logging for events a remote party can trigger at will (refused upgrades and
 * handshakes): the first occurrence of each kind is logged at once, later ones within
 * `intervalMs` are only counted, and one summary line per kind (same event, with
 * `suppressed: <count>`) follows at the end of the window. A flood of thousands of refusals a
 * second thus costs a few lines per window, while a lone refusal is logged as before.
 *
 * A kind is the event plus its reason with digits blanked, so distinct reasons stay visible.
 * The kinds tracked per window are bounded; beyond that, occurrences count under the event.
 */
import type { Logger } from "../types.js";

type Level = "debug" | "info" | "warn" | "error";

interface Window {
  level: Level;
  event: string;
  fields: Record<string, unknown>;
  suppressed: number;
}

/** Kinds tracked per window at most; an attacker varying its reason cannot grow the map. */
const MAX_KINDS = 64;

export class LogLimiter {
  private readonly windows = new Map<string, Window>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly logger: Logger,
    private readonly intervalMs: number,
  ) {}

  debug(event: string, fields: Record<string, unknown>, reason?: string): void {
    this.log("debug", event, fields, reason);
  }

  info(event: string, fields: Record<string, unknown>, reason?: string): void {
    this.log("info", event, fields, reason);
  }

  warn(event: string, fields: Record<string, unknown>, reason?: string): void {
    this.log("warn", event, fields, reason);
  }

  error(event: string, fields: Record<string, unknown>, reason?: string): void {
    this.log("error", event, fields, reason);
  }

  /** Logs the pending summaries now and stops the timer (shutdown). */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const windows = [...this.windows.values()];
    this.windows.clear();
    for (const w of windows) {
      if (w.suppressed > 0) this.logger[w.level](w.event, { ...w.fields, suppressed: w.suppressed, intervalMs: this.intervalMs });
    }
  }

  private log(level: Level, event: string, fields: Record<string, unknown>, reason?: string): void {
    let kind = `${level} ${event}\n${(reason ?? "").replace(/\d+/g, "#")}`;
    if (!this.windows.has(kind) && this.windows.size >= MAX_KINDS) kind = `${level} ${event}\n*`;
    const window = this.windows.get(kind);
    if (window !== undefined) {
      window.suppressed++;
      window.fields = fields;
      return;
    }
    this.windows.set(kind, { level, event, fields, suppressed: 0 });
    this.logger[level](event, fields);
    if (this.timer === undefined) {
      this.timer = setTimeout(() => this.flush(), this.intervalMs);
      this.timer.unref();
    }
  }
}
