/**
 * Reference server: raw `ws` echo. Modes (argv[2]):
 *  - "echo":   every message is sent straight back (one message per frame);
 *  - "merged": a message holds length-prefixed sub-messages; they are split and re-merged
 *              into one reply frame (what a merging mux does at best);
 *  - "stream": echo with backpressure: reading pauses while the send buffer is above a mark.
 */
import { WebSocketServer, type RawData, type WebSocket } from "ws";
import { runServerChild } from "../lib/server-child.js";

const mode = process.argv[2] ?? "echo";
/** Send-buffer high-water mark of the stream mode, bytes. */
const HIGH_WATER = 64 * 1024;

function asBuffer(data: RawData): Buffer {
  return Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
}

/** Splits u32-length-prefixed messages and re-merges them (copying each) into one frame. */
export function remerge(frame: Buffer): Buffer {
  const out = Buffer.allocUnsafe(frame.length);
  let off = 0;
  while (off + 4 <= frame.length) {
    const len = frame.readUInt32LE(off);
    const msg = frame.subarray(off + 4, off + 4 + len);
    out.writeUInt32LE(len, off);
    msg.copy(out, off + 4);
    off += 4 + len;
  }
  return out;
}

function onConnection(ws: WebSocket): void {
  if (mode === "merged") {
    ws.on("message", (data) => ws.send(remerge(asBuffer(data))));
  } else if (mode === "stream") {
    const resume = (): void => ws.resume();
    ws.on("message", (data) => {
      const buf = asBuffer(data);
      if (ws.bufferedAmount + buf.length >= HIGH_WATER) {
        ws.pause();
        ws.send(buf, resume);
      } else ws.send(buf);
    });
  } else {
    ws.on("message", (data) => ws.send(asBuffer(data)));
  }
}

runServerChild(async () => {
  const wss = new WebSocketServer({ host: "127.0.0.1", port: 0, perMessageDeflate: false, maxPayload: 64 * 1024 * 1024 });
  await new Promise<void>((resolve, reject) => {
    wss.once("listening", resolve);
    wss.once("error", reject);
  });
  wss.on("connection", onConnection);
  const address = wss.address();
  if (address === null || typeof address === "string") throw new Error("unexpected pipe address");
  return {
    port: address.port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of wss.clients) c.terminate();
        wss.close(() => resolve());
      }),
  };
});
