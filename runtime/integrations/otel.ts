/**
 * `tsgrid/otel`: OpenTelemetry tracing of tsgrid calls, as client and server interceptors
 * (`@opentelemetry/api` is an optional peer dependency; the core never imports this file).
 *
 *   const manager = new Manager({ ..., interceptors: otelInterceptors() });
 *
 * Every outgoing call gets a CLIENT span and every served call a SERVER span, named and
 * attributed after the OpenTelemetry RPC semantic conventions (`rpc.system` = "tsgrid",
 * `rpc.service`, `rpc.method` from the handler's registered name). The client injects the
 * trace context (W3C `traceparent`/`tracestate` with the default propagator) into the call's
 * metadata; the server extracts it, so one trace crosses every node a request touches. The
 * server span is the active span while the handler runs (stream handlers included), so the
 * handler's own calls are its children.
 */
import {
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  context,
  defaultTextMapGetter,
  defaultTextMapSetter,
  propagation,
  trace,
} from "@opentelemetry/api";
import type { Attributes, Context, Span, TextMapPropagator, Tracer, TracerProvider } from "@opentelemetry/api";
import { ErrorCode, GridError } from "../errors.js";
import type {
  CallInfo,
  ClientCall,
  ClientInterceptor,
  ClientNext,
  Interceptors,
  ServerCall,
  ServerInterceptor,
  ServerNext,
  StreamObserver,
} from "../interceptors.js";
import type { Stream } from "../types.js";

export interface OtelOptions {
  /** Where spans go. Default: the global tracer provider (`trace.getTracerProvider()`), resolved per span. */
  tracerProvider?: TracerProvider;
  /**
   * How the trace context is written to and read from a call's metadata. Default: the global
   * propagator (`propagation`), W3C Trace Context once an SDK registered it.
   */
  propagator?: TextMapPropagator;
  /**
   * Stream messages recorded as `rpc.message` span events, per span. Beyond it, messages are
   * only counted (`tsgrid.messages.sent`, `tsgrid.messages.received` at the end). Default 128
   * (the SDK's own default cap on events per span); 0 records none.
   */
  maxMessageEvents?: number;
}

export const DEFAULT_MAX_MESSAGE_EVENTS = 128;

/** The instrumentation scope's name. */
export const TRACER_NAME = "tsgrid";

/**
 * Codes that mark a SERVER span as an error: the server failed to serve. The others (the
 * caller cancelled, sent a bad or oversized payload, was refused, or met a draining server
 * that never started the call) are the caller's concern and leave the server span unset, as
 * the RPC conventions do for gRPC's client-side codes. Every failure marks a CLIENT span.
 */
const SERVER_FAULTS: ReadonlySet<string> = new Set<string>([
  ErrorCode.Remote,
  ErrorCode.DeadlineExceeded,
  ErrorCode.Disconnected,
  ErrorCode.Protocol,
  ErrorCode.UnknownHandler,
]);

/** A span's name and starting attributes for one handler and peer, built once. */
interface SpanTemplate {
  /** The handler name it was built with (a name registered later rebuilds it). */
  handlerName: string | undefined;
  /** `Locker/lock` (service/method), or `tsgrid/handler-7` for an unnamed handler. */
  name: string;
  attributes: Attributes;
}

/** Templates by peer, then handler id (calls with a subroute are built each time: they are rare). */
class SpanTemplates {
  private readonly byPeer = new Map<string, (SpanTemplate | undefined)[]>();
  constructor(private readonly side: "client" | "server") {}

  of(call: CallInfo): SpanTemplate {
    if (call.subroute !== undefined) return this.build(call);
    let byId = this.byPeer.get(call.peer);
    if (byId === undefined) this.byPeer.set(call.peer, (byId = []));
    const cached = byId[call.handler];
    if (cached !== undefined && cached.handlerName === call.handlerName) return cached;
    return (byId[call.handler] = this.build(call));
  }

  private build(call: CallInfo): SpanTemplate {
    const handlerName = call.handlerName;
    let name: string;
    let service: string | undefined;
    let method: string;
    const dot = handlerName === undefined ? -1 : handlerName.lastIndexOf(".");
    if (handlerName === undefined) {
      name = `tsgrid/handler-${call.handler}`;
      method = `handler-${call.handler}`;
    } else if (dot <= 0 || dot === handlerName.length - 1) {
      name = method = handlerName;
    } else {
      service = handlerName.slice(0, dot); // `Locker.lock` -> Locker / lock
      method = handlerName.slice(dot + 1);
      name = `${service}/${method}`;
    }
    const attributes: Attributes = { "rpc.system": "tsgrid", "rpc.method": method, "tsgrid.handler.id": call.handler };
    if (service !== undefined) attributes["rpc.service"] = service;
    if (call.subroute !== undefined) attributes["tsgrid.subroute"] = call.subroute;
    // The peer is one of the Manager's configured hosts (ws://10.0.0.2:9001/grid).
    attributes["tsgrid.peer"] = call.peer;
    if (this.side === "client") {
      try {
        const url = new URL(call.peer);
        attributes["server.address"] = url.hostname;
        attributes["server.port"] = url.port === "" ? (url.protocol === "wss:" ? 443 : 80) : Number(url.port);
      } catch {
        // Not a URL (a custom dialer's name): tsgrid.peer says it all.
      }
    }
    return { handlerName, name, attributes };
  }
}

/** Ends a span once, with the status and attributes of the call's outcome. */
class SpanEnd implements StreamObserver {
  private ended = false;
  private sent = 0;
  private received = 0;
  constructor(
    private readonly span: Span,
    private readonly side: "client" | "server",
    private readonly maxEvents: number,
  ) {}

  onMessage(direction: "in" | "out", bytes: number): void {
    const n = direction === "out" ? ++this.sent : ++this.received;
    if (this.sent + this.received > this.maxEvents) return;
    this.span.addEvent("rpc.message", {
      "rpc.message.type": direction === "out" ? "SENT" : "RECEIVED",
      "rpc.message.id": n,
      "rpc.message.uncompressed_size": bytes,
    });
  }

  onEnd(error: GridError | undefined): void {
    this.end(error);
  }

  /** `error`: a GridError (its code is the outcome), or what an interceptor or bad argument threw. */
  end(error: unknown, streamed = true): void {
    if (this.ended) return;
    this.ended = true;
    const span = this.span;
    if (streamed) span.setAttributes({ "tsgrid.messages.sent": this.sent, "tsgrid.messages.received": this.received });
    if (error instanceof GridError) {
      span.setAttribute("rpc.tsgrid.error_code", error.code);
      span.setAttribute("error.type", error.code);
      if (this.side === "client" || SERVER_FAULTS.has(error.code)) {
        span.setStatus({ code: SpanStatusCode.ERROR, message: error.message });
      }
    } else if (error !== undefined) {
      // Not from the wire (a TypeError for a bad argument, an interceptor's own error).
      span.setAttribute("error.type", error instanceof Error ? error.name : typeof error);
      span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
    }
    span.end();
  }
}

/** Runs every step of `source` (a stream handler's output) in `ctx`, so the handler body sees its span. */
function bindIterable(ctx: Context, source: AsyncIterable<Uint8Array>): AsyncIterable<Uint8Array> {
  return {
    [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
      const it = context.with(ctx, () => source[Symbol.asyncIterator]());
      const bound: AsyncIterator<Uint8Array> = {
        next: (...args) => context.with(ctx, () => it.next(...args)),
      };
      if (it.return !== undefined) bound.return = (value?: unknown) => context.with(ctx, () => it.return!(value as never));
      if (it.throw !== undefined) bound.throw = (err?: unknown) => context.with(ctx, () => it.throw!(err));
      return bound;
    },
  };
}

function checkedMax(value: number | undefined): number {
  const max = value ?? DEFAULT_MAX_MESSAGE_EVENTS;
  if (!(Number.isInteger(max) && max >= 0)) throw new RangeError(`option maxMessageEvents must be an integer >= 0, got ${value}`);
  return max;
}

function tracerOf(options: OtelOptions): () => Tracer {
  const provider = options.tracerProvider;
  if (provider !== undefined) {
    const tracer = provider.getTracer(TRACER_NAME);
    return () => tracer;
  }
  // The global provider may be registered after this is built: the API's proxy tracer follows it.
  const tracer = trace.getTracer(TRACER_NAME);
  return () => tracer;
}

/** A CLIENT span per outgoing call, its context injected into the call's metadata. */
export function otelClientInterceptor(options: OtelOptions = {}): ClientInterceptor {
  const tracer = tracerOf(options);
  const maxEvents = checkedMax(options.maxMessageEvents);
  const templates = new SpanTemplates("client");
  return (next) => (call) => {
    let span: Span;
    try {
      const propagator = options.propagator ?? propagation;
      const t = templates.of(call);
      const parent = context.active();
      span = tracer().startSpan(t.name, { kind: SpanKind.CLIENT, attributes: t.attributes }, parent);
      propagator.inject(trace.setSpan(parent, span), call.metadata, defaultTextMapSetter);
    } catch (err) {
      return Promise.reject(err);
    }
    // A span that is not sampled records nothing (its end, status and events are no-ops): the
    // call goes straight on, with no wrapper promise. The injected context still carries the
    // decision, so the server does not sample it either.
    if (!span.isRecording()) return next(call);
    return clientTraced(next, call, span, maxEvents);
  };
}

async function clientTraced(next: ClientNext, call: ClientCall, span: Span, maxEvents: number): Promise<Uint8Array | Stream> {
  const end = new SpanEnd(span, "client", maxEvents);
  if (call.stream) call.observe(end);
  try {
    const result = await next(call);
    if (!call.stream) end.end(undefined, false);
    return result;
  } catch (err) {
    end.end(err, call.stream);
    throw err;
  }
}

/**
 * A SERVER span per served call, child of the caller's span (from the metadata; never of
 * whatever context happens to be active on the socket's callbacks), active while the handler runs.
 */
export function otelServerInterceptor(options: OtelOptions = {}): ServerInterceptor {
  const tracer = tracerOf(options);
  const maxEvents = checkedMax(options.maxMessageEvents);
  const templates = new SpanTemplates("server");
  return (next) => (call) => {
    let span: Span;
    let ctx: Context;
    try {
      const propagator = options.propagator ?? propagation;
      const t = templates.of(call);
      const parent = propagator.extract(ROOT_CONTEXT, call.metadata, defaultTextMapGetter);
      span = tracer().startSpan(t.name, { kind: SpanKind.SERVER, attributes: t.attributes }, parent);
      ctx = trace.setSpan(parent, span);
    } catch (err) {
      return Promise.reject(err);
    }
    if (!span.isRecording()) {
      // Not sampled: nothing to record, but the handler still runs in the call's context (its
      // own calls carry the trace and the decision); no wrapper promise for a single.
      let result: ReturnType<ServerNext>;
      try {
        result = context.with(ctx, next, undefined, call);
      } catch (err) {
        return Promise.reject(err);
      }
      return call.stream ? result.then((out) => bindIterable(ctx, out as AsyncIterable<Uint8Array>)) : result;
    }
    return serverTraced(next, call, span, ctx, maxEvents);
  };
}

async function serverTraced(
  next: ServerNext,
  call: ServerCall,
  span: Span,
  ctx: Context,
  maxEvents: number,
): Promise<Uint8Array | AsyncIterable<Uint8Array>> {
  const end = new SpanEnd(span, "server", maxEvents);
  if (call.stream) call.observe(end);
  try {
    const result = await context.with(ctx, next, undefined, call);
    if (!call.stream) {
      end.end(undefined, false);
      return result;
    }
    return bindIterable(ctx, result as AsyncIterable<Uint8Array>);
  } catch (err) {
    end.end(GridError.from(err), call.stream); // what the caller gets: a handler's own Error is `remote`
    throw err;
  }
}

/** Both interceptors, for `ManagerOptions.interceptors` (or to spread next to others). */
export function otelInterceptors(options: OtelOptions = {}): Required<Interceptors> {
  return { client: [otelClientInterceptor(options)], server: [otelServerInterceptor(options)] };
}
