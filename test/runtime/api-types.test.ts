/** Compile-time checks of the runtime core's public API, as imported from "tsgrid". */
import { describe, expectTypeOf, it } from "vitest";
import {
  Connection,
  HandlerRegistry,
  memoryTransportPair,
  wsTransport,
  type Caller,
  type ConnectionState,
  type ConnectionStats,
  type HandlerContext,
  type HandlerRegistrar,
  type MessageTransport,
  type Stream,
  type StreamWriter,
} from "tsgrid";

describe("public types", () => {
  it("Connection is a Caller with the contract's members", () => {
    expectTypeOf<Connection>().toMatchTypeOf<Caller>();
    expectTypeOf<Connection["request"]>().returns.toEqualTypeOf<Promise<Uint8Array>>();
    expectTypeOf<Connection["newStream"]>().returns.toEqualTypeOf<Promise<Stream>>();
    expectTypeOf<Connection["state"]>().toEqualTypeOf<ConnectionState>();
    expectTypeOf<Connection["stats"]>().toEqualTypeOf<ConnectionStats>();
    expectTypeOf<Connection["subroute"]>().returns.toEqualTypeOf<Caller>();
    expectTypeOf<Connection["waitConnected"]>().returns.toEqualTypeOf<Promise<void>>();
    expectTypeOf<Connection["attach"]>().parameter(0).toEqualTypeOf<MessageTransport>();
    expectTypeOf<ConnectionState>().toEqualTypeOf<"disconnected" | "connecting" | "connected" | "closed">();
    expectTypeOf<ConnectionStats["inFlight"]>().toEqualTypeOf<number>();
  });

  it("streams and handlers have the documented shapes", () => {
    expectTypeOf<Stream["responses"]>().toEqualTypeOf<AsyncIterable<Uint8Array>>();
    expectTypeOf<Stream["requests"]>().toEqualTypeOf<StreamWriter | undefined>();
    expectTypeOf<StreamWriter["send"]>().returns.toEqualTypeOf<Promise<void>>();
    expectTypeOf<HandlerRegistry>().toMatchTypeOf<HandlerRegistrar>();
    expectTypeOf<HandlerContext["signal"]>().toEqualTypeOf<AbortSignal>();
    expectTypeOf(memoryTransportPair).returns.toEqualTypeOf<[MessageTransport, MessageTransport]>();
    expectTypeOf(wsTransport).returns.toEqualTypeOf<MessageTransport>();
    // A handler may answer synchronously or not.
    const registry = new HandlerRegistry();
    registry.registerSingle(1, (p) => p);
    registry.registerSingle(2, async (p, ctx) => {
      expectTypeOf(ctx.deadline).toEqualTypeOf<number | undefined>();
      return p;
    });
    registry.registerStream(3, async function* (payload, input) {
      expectTypeOf(payload).toEqualTypeOf<Uint8Array | undefined>();
      expectTypeOf(input).toEqualTypeOf<AsyncIterable<Uint8Array> | undefined>();
      yield new Uint8Array(0);
    });
  });
});
