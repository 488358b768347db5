/**
 * The handlers one server serves, by id and optional subroute. The mux looks handlers up on
 * every incoming call, so the common case (no subroute) is an array index.
 */
import { MAX_HANDLER_ID, encodeSubroute } from "../protocol/frame.js";
import type {
  HandlerID,
  HandlerRegistrar,
  SingleHandler,
  SingleHandlerOptions,
  StreamHandler,
  StreamHandlerOptions,
} from "../types.js";
import { HandlerNames } from "./handler-names.js";

/**
 * Stream capacities, one story for the runtime, the IDL and the wire (docs/streams.md):
 * - output: `outCapacity` in 1..MAX_STREAM_CAPACITY, default DEFAULT_OUT_CAPACITY;
 * - input: a handler takes input only when registered with an `inCapacity` in
 *   1..MAX_STREAM_CAPACITY (omitted or 0: no input). A schema stream with `in` and no
 *   `inCapacity` is generated with DEFAULT_IN_CAPACITY.
 * 128 each way was chosen by measurement (bench/stream-sweep.ts; docs/streams.md, "Choosing
 * capacities"): a 32 B bidi echo carries ~2× the messages per second of 32 credits for half
 * the CPU per message, while a stalled stream holds ~160 B per credit plus the message
 * (≈ 20 KiB at 32 B, ≈ 190 KiB at 1 KiB); beyond 128 the gain depends on the message
 * size (none at 1 KiB) while the memory keeps doubling.
 */
/** Default credits of a stream's output (messages the caller buffers). */
export const DEFAULT_OUT_CAPACITY = 128;
/** Credits of a stream's input when a schema stream has `in` but no `inCapacity` (generated code). */
export const DEFAULT_IN_CAPACITY = 128;
/** Largest capacity accepted for either direction of a stream (also on the wire, in AckMux). */
export const MAX_STREAM_CAPACITY = 65_536;

/** A registered stream handler with its resolved capacities. */
export interface StreamEntry {
  readonly handler: StreamHandler;
  /** Credits of the caller's input; 0 = the handler takes no input. */
  readonly inCapacity: number;
  /** Credits of the output. */
  readonly outCapacity: number;
}

type Entry = { kind: "single"; handler: SingleHandler } | { kind: "stream"; stream: StreamEntry };

function checkId(id: HandlerID): void {
  if (!Number.isInteger(id) || id < 1 || id > MAX_HANDLER_ID) {
    throw new RangeError(`handler id must be an integer in 1..${MAX_HANDLER_ID}, got ${id}`);
  }
}

function checkCapacity(name: string, value: number, min: number): number {
  if (!Number.isInteger(value) || value < min || value > MAX_STREAM_CAPACITY) {
    throw new RangeError(`${name} must be an integer in ${min}..${MAX_STREAM_CAPACITY}, got ${value}`);
  }
  return value;
}

export class HandlerRegistry implements HandlerRegistrar {
  /** Handlers without a subroute, indexed by id. */
  private readonly plain: (Entry | undefined)[] = [];
  /** Handlers under a subroute: subroute -> id -> entry. */
  private readonly routed = new Map<string, Map<number, Entry>>();
  /** Handler names (`Locker.lock`) by id, for errors, logs and interceptors; shared with the connections. */
  readonly names = new HandlerNames();

  registerSingle(id: HandlerID, handler: SingleHandler, opts?: SingleHandlerOptions): void {
    if (typeof handler !== "function") throw new TypeError(`handler ${id} is not a function`);
    this.add(id, opts?.subroute, { kind: "single", handler });
    if (opts?.name !== undefined) this.names.set(id, opts.name);
  }

  registerStream(id: HandlerID, handler: StreamHandler, opts?: StreamHandlerOptions): void {
    if (typeof handler !== "function") throw new TypeError(`stream handler ${id} is not a function`);
    const inCapacity = checkCapacity("inCapacity", opts?.inCapacity ?? 0, 0);
    const outCapacity = checkCapacity("outCapacity", opts?.outCapacity ?? DEFAULT_OUT_CAPACITY, 1);
    this.add(id, opts?.subroute, { kind: "stream", stream: { handler, inCapacity, outCapacity } });
    if (opts?.name !== undefined) this.names.set(id, opts.name);
  }

  /** The single handler for `id` under `subroute`, if any. */
  single(id: number, subroute: string | undefined): SingleHandler | undefined {
    const entry = this.get(id, subroute);
    return entry?.kind === "single" ? entry.handler : undefined;
  }

  /** The stream handler for `id` under `subroute`, if any. */
  stream(id: number, subroute: string | undefined): StreamEntry | undefined {
    const entry = this.get(id, subroute);
    return entry?.kind === "stream" ? entry.stream : undefined;
  }

  /** Whether anything is registered under `id` (and `subroute`). */
  has(id: number, subroute?: string): boolean {
    return this.get(id, subroute) !== undefined;
  }

  private get(id: number, subroute: string | undefined): Entry | undefined {
    if (subroute === undefined) return this.plain[id];
    return this.routed.get(subroute)?.get(id);
  }

  private add(id: HandlerID, subroute: string | undefined, entry: Entry): void {
    checkId(id);
    if (subroute === undefined) {
      if (this.plain[id] !== undefined) throw new Error(`handler ${id} is already registered`);
      this.plain[id] = entry;
      return;
    }
    encodeSubroute(subroute); // validates its length once, at registration
    let byId = this.routed.get(subroute);
    if (byId === undefined) {
      byId = new Map();
      this.routed.set(subroute, byId);
    }
    if (byId.has(id)) throw new Error(`handler ${id} is already registered under subroute "${subroute}"`);
    byId.set(id, entry);
  }
}
