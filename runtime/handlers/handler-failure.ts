/**
 * What a handler's failure becomes, on both sides.
 *
 * The caller gets a GridError whose message says what happened; the server logs it, because
 * a handler bug (a non-Error thrown, a TypeError, bytes missing from the answer) is the
 * server's to fix and the caller may not even log what it got:
 *
 * - a GridError, or an `Error` of the application's own (the handler failing on purpose:
 *   "no such key"): sent as it is; logged at debug. An InvalidPayloadError (a generated
 *   codec refusing a value) is logged at warn: the two processes disagree on a schema.
 * - a built-in programming error (`TypeError`, `ReferenceError`, `RangeError`,
 *   `SyntaxError`, ...): sent as `Name: message`, logged at error with its stack.
 * - anything that is not an Error (`throw { code: 42 }`, `throw "busy"`): sent as
 *   `handler 7 threw a non-Error value: {"code":42}` (`stream handler 7` for a stream),
 *   logged at error.
 * - a result that is not what the handler must produce (no bytes from a single handler, no
 *   AsyncIterable from a stream handler, a yielded value that is not bytes): sent as
 *   `handler 7 returned undefined, not a Uint8Array`, logged at error.
 *
 * The same failure again (same handler, same message with numbers masked) is logged at
 * debug only, so a buggy handler under load cannot flood the log.
 */
import type { HandlerNames } from "./handler-names.js";
import { ErrorCode, GridError, RemoteError } from "../errors.js";
import type { Logger } from "../types.js";

/** Longest rendering of a thrown non-Error value in an error message. */
export const MAX_THROWN_VALUE_CHARS = 200;

/** Distinct failures remembered per connection to log each once (oldest forgotten first). */
const MAX_REMEMBERED_FAILURES = 256;

const programmingErrors: readonly (new (...args: never[]) => Error)[] = [
  TypeError,
  ReferenceError,
  RangeError,
  SyntaxError,
  EvalError,
  URIError,
];

function isProgrammingError(err: Error): boolean {
  // Only the built-in classes themselves: an application's `class NotFound extends RangeError` is on purpose.
  return programmingErrors.some((cls) => Object.getPrototypeOf(err) === cls.prototype);
}

/** A short, never-throwing rendering of any thrown value. */
export function renderThrown(value: unknown): string {
  let text: string;
  try {
    if (typeof value === "string") text = JSON.stringify(value);
    else if (typeof value === "object" && value !== null) {
      text = JSON.stringify(value) ?? Object.prototype.toString.call(value);
      if (text === "{}") text = `${Object.prototype.toString.call(value)} {}`;
    } else if (typeof value === "bigint") text = `${value}n`;
    else text = String(value);
  } catch {
    // Circular, a throwing toJSON or getter, a revoked proxy.
    try {
      text = Object.prototype.toString.call(value);
    } catch {
      text = "an unprintable value";
    }
  }
  return text.length > MAX_THROWN_VALUE_CHARS ? `${text.slice(0, MAX_THROWN_VALUE_CHARS)}...` : text;
}

function errorName(err: Error): string {
  try {
    return String(err.name);
  } catch {
    return "Error";
  }
}

type Kind = "single" | "stream";

function label(kind: Kind): string {
  return kind === "stream" ? "stream handler" : "handler";
}

/** Turns handler failures into caller errors and server log lines, for one connection. */
export class HandlerFailures {
  /** Failure shapes already logged above debug, as `handler:shape`. */
  private readonly seen = new Set<string>();

  constructor(
    private readonly logger: Logger,
    private readonly local: string,
    private readonly remote: string,
    /** Names handlers in messages and logs (`handler Locker.lock (id 1) ...`). */
    private readonly names?: HandlerNames,
  ) {}

  private describe(handler: number): string {
    return this.names?.describe(handler) ?? String(handler);
  }

  /** The error the caller gets for what handler `handler` threw (or rejected with). */
  thrown(handler: number, kind: Kind, thrown: unknown): GridError {
    if (thrown instanceof GridError) {
      this.log(thrown.code === ErrorCode.InvalidPayload ? "warn" : "debug", handler, kind, thrown, undefined);
      return thrown;
    }
    if (thrown instanceof Error) {
      const error = GridError.from(thrown);
      if (!isProgrammingError(thrown)) {
        this.log("debug", handler, kind, error, undefined);
        return error;
      }
      const named = new RemoteError(`${errorName(thrown)}: ${error.rawMessage}`, { cause: thrown });
      this.log("error", handler, kind, named, thrown.stack);
      return named;
    }
    const error = new RemoteError(`${label(kind)} ${this.describe(handler)} threw a non-Error value: ${renderThrown(thrown)}`, { cause: thrown });
    this.log("error", handler, kind, error, undefined);
    return error;
  }

  /** The error the caller gets when handler `handler` produced the wrong thing (`what`). */
  misused(handler: number, kind: Kind, what: string): GridError {
    const error = new RemoteError(`${label(kind)} ${this.describe(handler)} ${what}`);
    this.log("error", handler, kind, error, undefined);
    return error;
  }

  private log(level: "debug" | "warn" | "error", handler: number, kind: Kind, error: GridError, stack: string | undefined): void {
    const fields: Record<string, unknown> = { local: this.local, caller: this.remote, handler, kind, error: error.message };
    const name = this.names?.get(handler);
    if (name !== undefined) fields["handlerName"] = name;
    if (stack !== undefined) fields["stack"] = stack;
    if (level !== "debug") {
      const shape = `${handler}:${error.message.replace(/\d+/g, "#")}`;
      if (this.seen.has(shape)) level = "debug";
      else {
        if (this.seen.size >= MAX_REMEMBERED_FAILURES) this.seen.delete(this.seen.values().next().value!);
        this.seen.add(shape);
      }
    }
    // Literal calls, one per level: docs/operations.md lists every event by level (tested).
    if (level === "error") this.logger.error("handler failed", fields);
    else if (level === "warn") this.logger.warn("handler failed", fields);
    else this.logger.debug("handler failed", fields);
  }
}
