/**
 * Entry of a client child process. Client modules load lazily, by name: a child imports only
 * what its row drives (grpc-js alone costs a noticeable start-up), and the reference rows run
 * even in a checkout whose runtime is incomplete.
 */
import { runClientChild } from "./lib/client-child.js";

runClientChild({
  "raw-ws": async (ctx) => (await import("./clients/raw-ws.js")).rawWsClient(ctx),
  grpc: async (ctx) => (await import("./clients/grpc.js")).grpcClient(ctx),
  codec: async (ctx) => (await import("./clients/codec.js")).codecClient(ctx),
  tsgrid: async (ctx) => (await import("./clients/tsgrid.js")).tsgridClient(ctx),
});
