/**
 * Reference client: raw `ws`. Modes: "echo" (N messages in flight, one per frame), "merged"
 * (one frame of N length-prefixed messages in flight), "stream" (one-way pump with
 * backpressure; the server echoes; throughput = messages received).
 */
import { WebSocket } from "ws";
import type { ClientModule } from "../lib/client-child.js";
import { now, type Phase } from "../lib/phase.js";

/** Client send-buffer high-water mark of the stream mode, bytes. */
const HIGH_WATER = 64 * 1024;

export const rawWsClient: ClientModule = async (ctx) => {
  const mode = ctx.str("mode");
  const size = ctx.num("payload");
  const inflight = ctx.num("inflight", 1);
  const ws = new WebSocket(`ws://127.0.0.1:${ctx.port}`, { perMessageDeflate: false, maxPayload: 64 * 1024 * 1024 });
  await new Promise<void>((resolve, reject) => {
    ws.once("open", resolve);
    ws.once("error", reject);
  });
  const payload = Buffer.alloc(size, 7);
  let onMessage: (data: Buffer) => void = () => {};
  ws.on("message", (data) => onMessage(data as Buffer));
  const close = (): void => ws.terminate();

  if (mode === "echo") {
    // Echo keeps order on one socket, so a ring of send times matches replies to requests.
    const sentAt = new Float64Array(inflight);
    return {
      close,
      driver: (phase: Phase) =>
        new Promise<void>((resolve) => {
          let head = 0;
          let tail = 0;
          let outstanding = 0;
          const sendOne = (): void => {
            sentAt[head] = now();
            head = (head + 1) % inflight;
            outstanding++;
            ws.send(payload);
          };
          onMessage = () => {
            phase.hist.record((now() - sentAt[tail]!) * 1000);
            tail = (tail + 1) % inflight;
            outstanding--;
            phase.ops++;
            if (!phase.done) sendOne();
            else if (outstanding === 0) resolve();
          };
          for (let i = 0; i < inflight; i++) sendOne();
        }),
    };
  }

  if (mode === "merged") {
    const frame = Buffer.allocUnsafe(inflight * (4 + size));
    for (let i = 0, off = 0; i < inflight; i++, off += 4 + size) {
      frame.writeUInt32LE(size, off);
      payload.copy(frame, off + 4);
    }
    return {
      close,
      driver: (phase: Phase) =>
        new Promise<void>((resolve) => {
          let sentAt = 0;
          const sendOne = (): void => {
            sentAt = now();
            ws.send(frame);
          };
          onMessage = (data) => {
            const rtt = (now() - sentAt) * 1000;
            // Parse the merged reply as a mux would, one sub-message at a time.
            let count = 0;
            for (let off = 0; off + 4 <= data.length; count++) off += 4 + data.readUInt32LE(off);
            for (let i = 0; i < count; i++) phase.hist.record(rtt);
            phase.ops += count;
            if (!phase.done) sendOne();
            else resolve();
          };
          sendOne();
        }),
    };
  }

  if (mode === "stream") {
    return {
      close,
      driver: (phase: Phase) =>
        new Promise<void>((resolve) => {
          let sent = 0;
          let received = 0;
          let stopped = false;
          const pump = (): void => {
            while (!stopped) {
              if (phase.done) {
                stopped = true;
                break;
              }
              sent++;
              if (ws.bufferedAmount + size >= HIGH_WATER) {
                ws.send(payload, pump); // resume once this chunk reached the socket
                return;
              }
              ws.send(payload);
            }
            if (received === sent) resolve();
          };
          onMessage = () => {
            received++;
            phase.ops++;
            if (stopped && received === sent) resolve();
          };
          pump();
        }),
    };
  }
  throw new Error(`raw-ws: unknown mode ${mode}`);
};
