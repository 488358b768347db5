/** Entry of a client child process: every client module, by name. */
import { runClientChild } from "./lib/client-child.js";
import { codecClient } from "./clients/codec.js";
import { grpcClient } from "./clients/grpc.js";
import { rawWsClient } from "./clients/raw-ws.js";

runClientChild({
  "raw-ws": rawWsClient,
  grpc: grpcClient,
  codec: codecClient,
  // Loaded lazily: the reference rows must run even in a checkout whose runtime is incomplete.
  tsgrid: async (ctx) => (await import("./clients/tsgrid.js")).tsgridClient(ctx),
});
