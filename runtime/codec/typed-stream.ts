/**
 * Typed views of the runtime's byte streams, used by generated clients and `register*`
 * functions: each message is encoded or decoded as it passes, with no buffering of its own, so
 * the runtime's flow control (credits) is what the typed side sees.
 */
import { ProtocolError } from "../errors.js";
import type { Stream } from "../types.js";

/** The caller's half of a typed input stream. */
export interface TypedStreamWriter<In> {
  /** Sends one message; resolves when it fits within the server's credit (backpressure). */
  send(msg: In): Promise<void>;
  /** Ends the input (EOF travels in band, after the messages already sent). */
  close(): void;
}

/** A server stream as the caller sees it. */
export interface ServerStream<Out> {
  /** The server's messages, decoded and validated; throws the server's error or `InvalidPayloadError`. */
  responses: AsyncIterable<Out>;
  /** Cancels the stream on both sides. Idempotent. */
  cancel(reason?: unknown): void;
}

/** A bidirectional stream as the caller sees it. */
export interface BidiStream<In, Out> extends ServerStream<Out> {
  /** The caller's messages to the server. */
  requests: TypedStreamWriter<In>;
}

/**
 * Maps each message of an async iterable. Forwards `return()` so that stopping the mapped
 * iterable (a cancel) stops the source (its `finally` blocks run). When `map` throws, the source
 * is stopped, `onError` is told, and the error is what the consumer sees.
 */
class MappedIterator<A, B> implements AsyncIterableIterator<B> {
  readonly #src: AsyncIterator<A>;
  readonly #map: (a: A) => B;
  readonly #onError: ((err: unknown) => void) | undefined;
  // Bound once per stream, not per message.
  readonly #step = (r: IteratorResult<A>): IteratorResult<B> => {
    if (r.done === true) return { done: true, value: undefined };
    try {
      return { done: false, value: this.#map(r.value) };
    } catch (err) {
      this.#onError?.(err);
      void this.#src.return?.()?.catch(ignore);
      throw err;
    }
  };

  constructor(src: AsyncIterable<A>, map: (a: A) => B, onError?: (err: unknown) => void) {
    this.#src = src[Symbol.asyncIterator]();
    this.#map = map;
    this.#onError = onError;
  }

  next(): Promise<IteratorResult<B>> {
    return this.#src.next().then(this.#step);
  }

  async return(): Promise<IteratorResult<B>> {
    await this.#src.return?.();
    return { done: true, value: undefined };
  }

  async throw(err?: unknown): Promise<IteratorResult<B>> {
    if (this.#src.throw === undefined) {
      await this.#src.return?.();
      throw err;
    }
    return this.#step(await this.#src.throw(err));
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}

function ignore(): void {}

/** Maps each message of `src` with `map`; see MappedIterator. */
export function mapAsyncIterable<A, B>(src: AsyncIterable<A>, map: (a: A) => B): AsyncIterable<B> {
  return new MappedIterator(src, map);
}

/** An async iterable that fails on its first `next()`. */
function failed(err: unknown): AsyncIterable<never> {
  return {
    [Symbol.asyncIterator]: () => ({ next: () => Promise.reject(err) }),
  };
}

const empty: AsyncIterable<never> = {
  [Symbol.asyncIterator]: () => ({ next: () => Promise.resolve({ done: true, value: undefined }) }),
};

/**
 * Serves a stream handler's output: calls `open` (which decodes the payload and calls the
 * implementation) and encodes every message it yields. A failure in `open` (a payload that does
 * not match the schema, a synchronous throw) becomes the stream's error: the implementation is
 * not called with bad input.
 */
export function serveStream<Out>(open: () => AsyncIterable<Out>, encode: (msg: Out) => Uint8Array): AsyncIterable<Uint8Array> {
  try {
    return new MappedIterator(open(), encode);
  } catch (err) {
    return failed(err);
  }
}

/** Decodes a handler's input stream; a message that does not match the schema throws from the iteration. */
export function decodeInput<In>(input: AsyncIterable<Uint8Array> | undefined, decode: (bytes: Uint8Array) => In): AsyncIterable<In> {
  return input === undefined ? empty : new MappedIterator(input, decode);
}

/** The caller's typed view of a server stream: a message that fails validation cancels the stream. */
export function serverStream<Out>(stream: Stream, decode: (bytes: Uint8Array) => Out): ServerStream<Out> {
  return {
    responses: new MappedIterator(stream.responses, decode, (err) => stream.cancel(err)),
    cancel: (reason?: unknown) => stream.cancel(reason),
  };
}

/** The caller's typed view of a bidirectional stream. */
export function bidiStream<In, Out>(
  stream: Stream,
  encode: (msg: In) => Uint8Array,
  decode: (bytes: Uint8Array) => Out,
): BidiStream<In, Out> {
  const requests = stream.requests;
  if (requests === undefined) {
    stream.cancel();
    throw new ProtocolError("the server opened the stream without an input stream");
  }
  return {
    responses: new MappedIterator(stream.responses, decode, (err) => stream.cancel(err)),
    requests: {
      send: (msg: In) => requests.send(encode(msg)),
      close: () => requests.close(),
    },
    cancel: (reason?: unknown) => stream.cancel(reason),
  };
}
