/**
 * Options of a Connection, with their defaults. Every limit and timeout of the mux is here.
 */
import { consoleLogger } from "../logger.js";
import { MAX_MERGED_FRAMES } from "../protocol/frame.js";
import type { GridError } from "../errors.js";
import type { Interceptors } from "../interceptors.js";
import { DEFAULT_MAX_METADATA_BYTES, MAX_METADATA_BYTES } from "../protocol/metadata.js";
import type { HandlerID, Logger } from "../types.js";

/** One finished call, for tracing and metrics. */
export interface CallTrace {
  handler: HandlerID;
  /** The handler's registered name (`Locker.lock`), when it has one. */
  handlerName?: string | undefined;
  subroute: string | undefined;
  /** Name of the server at the other end. */
  peer: string;
  /** `out`: this side called; `in`: this side served. */
  direction: "out" | "in";
  kind: "single" | "stream";
  durationMs: number;
  /** Payload bytes received for this call (for a stream: every message). */
  bytesIn: number;
  /** Payload bytes sent for this call. */
  bytesOut: number;
  /** Why the call failed, when it did. */
  error?: GridError;
}

export interface ConnectionOptions {
  /** Deadline of a single request without `timeoutMs`. Streams have none unless given. Default 60 000. */
  defaultTimeoutMs: number;
  /** Period of connection-level pings. Default 10 000. */
  pingIntervalMs: number;
  /** No frame at all from the peer for this long: the connection is dead. Default 20 000. */
  pingTimeoutMs: number;
  /** Period of stream-level pings (sent by the caller of each open stream). Default 15 000. */
  streamPingIntervalMs: number;
  /** A stream whose peer sent nothing for this long fails, on either side. Default 60 000. */
  streamTimeoutMs: number;
  /** Largest payload sent or accepted in one frame (MessageTooLargeError). Default 16 MiB. */
  maxMessageBytes: number;
  /** New calls wait while this many bytes are queued and not yet written. Default 8 MiB. */
  maxQueuedBytes: number;
  /** Largest WebSocket message built by merging frames. Default 64 KiB. */
  maxMergeBytes: number;
  /**
   * Most frames merged into one WebSocket message. Default 32: the peer starts on the first
   * part of a big burst (and answers it) while the rest is still being read, which kept both
   * sides busy at once (+17% to +60% at 128 small calls in flight, bench/); one message per
   * 128 frames left each side idle while the other worked.
   */
  maxMergeFrames: number;
  /** Add a CRC32 to every frame (for links without TLS). Default false. */
  checksum: boolean;
  /**
   * Single requests from this peer being served at once (handlers that did not answer
   * synchronously), at most; more are answered with `ResourceExhaustedError` without running
   * the handler. Default 1024 (about 2.3 KiB each with a small payload: ~2.3 MiB per peer).
   */
  maxIncomingCalls: number;
  /**
   * Request payload bytes held by this peer's single requests being served, at most; a
   * request that would go beyond is answered with `ResourceExhaustedError` (a request alone
   * is always admitted). Default 32 MiB.
   */
  maxIncomingBytes: number;
  /**
   * Streams opened by this peer and open at once, at most; more are refused with
   * `ResourceExhaustedError` (MuxConnectError). Default 512.
   */
  maxIncomingStreams: number;
  /**
   * Bytes of stream messages from this peer that wait, unread, in the queues of its live
   * streams (input of streams it opened, output of streams we opened), at most. Credits bound
   * each queue in messages only; this bounds them in bytes. The stream whose message would go
   * beyond fails with `ResourceExhaustedError` on both sides and its queue is freed (a
   * message alone always fits). Default 64 MiB: 512 streams each holding a full default
   * window (128) of 1 KiB messages.
   */
  maxUnreadStreamBytes: number;
  /**
   * The peer reads nothing of what we queued (the backlog is at `maxQueuedBytes` and the
   * transport took no byte of it) for this long: the connection is dropped, with a `warn`
   * log line. While the backlog is above twice `maxQueuedBytes` this side also stops reading
   * the peer (what it sends waits in the network), so answers cannot pile up without bound.
   * Default 3000.
   */
  writeTimeoutMs: number;
  /**
   * A stream producer (a handler's generator, a caller's `requests.send` loop) that never
   * awaits anything else yields to the event loop after this many messages, so it cannot
   * starve I/O and timers. Default 128, the default stream capacity: a producer bound by
   * its credits already waits (and the loop turns) at least once per `capacity` messages,
   * so the forced yield, an extra turn, is only for streams with more credits than this.
   */
  streamYieldMessages: number;
  /** The same, counted in bytes: yield after this many payload bytes. Default 1 MiB. */
  streamYieldBytes: number;
  /**
   * Stream-level protocol faults of one link (out-of-sequence messages, messages beyond
   * the credits, credits beyond the capacity, input to a handler that takes none) each fail
   * their stream; one more than this drops the whole link. Default 16.
   */
  maxStreamFaults: number;
  /** Granularity of deadlines (they never fire early). Default 5. */
  deadlineResolutionMs: number;
  /** How often calls waiting for room in the outgoing queue re-check it. Default 2. */
  roomPollMs: number;
  /**
   * Largest metadata of one call (`CallOptions.metadata`), in encoded bytes of its keys and
   * values (3 bytes of framing per pair included); a larger one rejects the call with
   * MessageTooLargeError, on the caller's side before anything is sent, or on the server's
   * when the caller's bound is higher. Default 8192 (8 KiB); at most 32767.
   */
  maxMetadataBytes: number;
  /**
   * Client and server interceptors of every call on this connection (a Manager's apply to
   * all its connections): see `ClientInterceptor`. Default: none (the plain call path).
   */
  interceptors?: Interceptors | undefined;
  /** Where the connection logs. Default: the console logger. */
  logger: Logger;
  /** Called once per finished call, when set. */
  trace?: ((record: CallTrace) => void) | undefined;
}

export const DEFAULT_CONNECTION_OPTIONS: Readonly<Omit<ConnectionOptions, "logger" | "trace" | "interceptors">> = {
  defaultTimeoutMs: 60_000,
  pingIntervalMs: 10_000,
  pingTimeoutMs: 20_000,
  streamPingIntervalMs: 15_000,
  streamTimeoutMs: 60_000,
  maxMessageBytes: 16 * 1024 * 1024,
  maxQueuedBytes: 8 * 1024 * 1024,
  maxMergeBytes: 64 * 1024,
  maxMergeFrames: 32,
  checksum: false,
  maxIncomingCalls: 1024,
  maxIncomingBytes: 32 * 1024 * 1024,
  maxIncomingStreams: 512,
  maxUnreadStreamBytes: 64 * 1024 * 1024,
  writeTimeoutMs: 3000,
  streamYieldMessages: 128,
  streamYieldBytes: 1024 * 1024,
  maxStreamFaults: 16,
  deadlineResolutionMs: 5,
  roomPollMs: 2,
  maxMetadataBytes: DEFAULT_MAX_METADATA_BYTES,
};

/** An option that must be a positive number; returns it. */
export function positive(name: string, value: number): number {
  if (!(typeof value === "number" && value > 0 && Number.isFinite(value))) {
    throw new RangeError(`option ${name} must be a positive number, got ${value}`);
  }
  return value;
}

/** A count: a positive integer. */
function count(name: string, value: number): void {
  if (!(Number.isInteger(value) && value > 0)) throw new RangeError(`option ${name} must be a positive integer, got ${value}`);
}

/** The longest delay a Node timer holds (about 24.8 days); a longer one fires after 1 ms. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** A period or timeout that arms a timer: positive and within what a Node timer holds; returns it. */
export function period(name: string, value: number): number {
  positive(name, value);
  if (value > MAX_TIMER_MS) throw new RangeError(`option ${name} must be at most ${MAX_TIMER_MS} ms, got ${value}`);
  return value;
}

/** Fills defaults and checks every field. */
export function resolveConnectionOptions(partial: Partial<ConnectionOptions> | undefined): ConnectionOptions {
  const opts: ConnectionOptions = {
    ...DEFAULT_CONNECTION_OPTIONS,
    ...stripUndefined(partial),
    logger: guardedLogger(partial?.logger ?? consoleLogger()),
  };
  positive("defaultTimeoutMs", opts.defaultTimeoutMs);
  period("pingIntervalMs", opts.pingIntervalMs);
  period("pingTimeoutMs", opts.pingTimeoutMs);
  period("streamPingIntervalMs", opts.streamPingIntervalMs);
  positive("streamTimeoutMs", opts.streamTimeoutMs);
  positive("maxMessageBytes", opts.maxMessageBytes);
  positive("maxQueuedBytes", opts.maxQueuedBytes);
  positive("maxMergeBytes", opts.maxMergeBytes);
  positive("maxMergeFrames", opts.maxMergeFrames);
  if (opts.maxMergeFrames > MAX_MERGED_FRAMES) {
    throw new RangeError(`option maxMergeFrames must be at most ${MAX_MERGED_FRAMES} (the protocol's limit), got ${opts.maxMergeFrames}`);
  }
  count("maxIncomingCalls", opts.maxIncomingCalls);
  count("maxIncomingStreams", opts.maxIncomingStreams);
  positive("maxIncomingBytes", opts.maxIncomingBytes);
  positive("maxUnreadStreamBytes", opts.maxUnreadStreamBytes);
  period("writeTimeoutMs", opts.writeTimeoutMs);
  count("streamYieldMessages", opts.streamYieldMessages);
  positive("streamYieldBytes", opts.streamYieldBytes);
  if (!(Number.isInteger(opts.maxStreamFaults) && opts.maxStreamFaults >= 0)) {
    throw new RangeError(`option maxStreamFaults must be a non-negative integer, got ${opts.maxStreamFaults}`);
  }
  period("deadlineResolutionMs", opts.deadlineResolutionMs);
  period("roomPollMs", opts.roomPollMs);
  positive("maxMetadataBytes", opts.maxMetadataBytes);
  if (opts.maxMetadataBytes > MAX_METADATA_BYTES) {
    throw new RangeError(`option maxMetadataBytes must be at most ${MAX_METADATA_BYTES}, got ${opts.maxMetadataBytes}`);
  }
  if (opts.maxMessageBytes > 0xffff_ffff) throw new RangeError("option maxMessageBytes must fit a u32");
  return opts;
}

const guarded = new WeakSet<Logger>();

/**
 * The logger is user code: one that throws (a JSON logger meeting a circular field, a closed
 * stream) must not break the teardown or timer it reports from, nor crash the process. A
 * log that throws is dropped.
 */
function guardedLogger(logger: Logger): Logger {
  if (guarded.has(logger)) return logger;
  const guard =
    (level: keyof Logger) =>
    (message: string, fields?: Record<string, unknown>): void => {
      try {
        logger[level](message, fields);
      } catch {
        // Nowhere left to report it.
      }
    };
  const safe: Logger = { debug: guard("debug"), info: guard("info"), warn: guard("warn"), error: guard("error") };
  guarded.add(safe);
  return safe;
}

function stripUndefined<T extends object>(value: T | undefined): Partial<T> {
  const out: Partial<T> = {};
  if (value === undefined) return out;
  for (const [k, v] of Object.entries(value)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}
