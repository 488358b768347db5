/** Reference server: @grpc/grpc-js unary echo and bidi echo (with backpressure). */
import * as grpc from "@grpc/grpc-js";
import { echoService, grpcOptions } from "../lib/grpc-service.js";
import { runServerChild } from "../lib/server-child.js";

runServerChild(async () => {
  const server = new grpc.Server(grpcOptions);
  server.addService(echoService, {
    unary: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
      callback(null, call.request);
    },
    bidi: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
      const resume = (): void => {
        call.resume();
      };
      call.on("data", (msg: Buffer) => {
        if (!call.write(msg)) {
          call.pause();
          call.once("drain", resume);
        }
      });
      call.on("end", () => call.end());
      call.on("error", () => {});
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return { port, close: () => void server.forceShutdown() };
});
