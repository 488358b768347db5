/** Reference client: @grpc/grpc-js unary (N in flight) and one bidi echo stream with backpressure. */
import * as grpc from "@grpc/grpc-js";
import type { ClientModule } from "../lib/client-child.js";
import { echoService, grpcOptions } from "../lib/grpc-service.js";
import { now, type Phase } from "../lib/phase.js";

interface EchoClient extends grpc.Client {
  unary(req: Buffer, callback: (err: grpc.ServiceError | null, res?: Buffer) => void): grpc.ClientUnaryCall;
  bidi(): grpc.ClientDuplexStream<Buffer, Buffer>;
}

export const grpcClient: ClientModule = async (ctx) => {
  const mode = ctx.str("mode");
  const size = ctx.num("payload");
  const inflight = ctx.num("inflight", 1);
  const Ctor = grpc.makeGenericClientConstructor(echoService, "Echo");
  const client = new Ctor(`127.0.0.1:${ctx.port}`, grpc.credentials.createInsecure(), grpcOptions) as unknown as EchoClient;
  await new Promise<void>((resolve, reject) =>
    client.waitForReady(Date.now() + 5000, (err) => (err ? reject(err) : resolve())),
  );
  const payload = Buffer.alloc(size, 7);
  const close = (): void => client.close();

  if (mode === "unary") {
    return {
      close,
      driver: (phase: Phase) =>
        new Promise<void>((resolve, reject) => {
          let outstanding = 0;
          const one = (): void => {
            const t0 = now();
            outstanding++;
            client.unary(payload, (err) => {
              outstanding--;
              if (err) return reject(err);
              phase.hist.record((now() - t0) * 1000);
              phase.ops++;
              if (!phase.done) one();
              else if (outstanding === 0) resolve();
            });
          };
          for (let i = 0; i < inflight; i++) one();
        }),
    };
  }

  if (mode === "bidi") {
    return {
      close,
      driver: (phase: Phase) =>
        new Promise<void>((resolve, reject) => {
          const call = client.bidi();
          let sent = 0;
          let received = 0;
          let ended = false;
          const pump = (): void => {
            while (!ended) {
              if (phase.done) {
                ended = true;
                call.end();
                return;
              }
              sent++;
              if (!call.write(payload)) {
                call.once("drain", pump);
                return;
              }
            }
          };
          call.on("data", () => {
            received++;
            phase.ops++;
          });
          call.on("error", reject);
          call.on("end", () => (received === sent ? resolve() : reject(new Error(`bidi lost ${sent - received} messages`))));
          pump();
        }),
    };
  }
  throw new Error(`grpc: unknown mode ${mode}`);
};
