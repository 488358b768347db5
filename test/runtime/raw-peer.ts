/** A Connection wired to a hand-driven peer that sends and reads raw frames. */
import { Connection } from "../../runtime/connection/connection.js";
import type { ConnectionOptions } from "../../runtime/connection/options.js";
import { HandlerRegistry } from "../../runtime/handlers/handler-registry.js";
import { decodeMessage, emptyFrame, encodeFrame } from "../../runtime/protocol/frame.js";
import type { Frame } from "../../runtime/protocol/frame.js";
import { memoryTransportPair } from "../../runtime/transport/memory-transport.js";
import type { MessageTransport } from "../../runtime/transport/message-transport.js";
import type { Logger } from "../../runtime/types.js";

export interface LogRecord {
  level: string;
  message: string;
  fields: Record<string, unknown> | undefined;
}

export interface RawPeer {
  conn: Connection;
  registry: HandlerRegistry;
  raw: MessageTransport;
  /** Frames the connection sent to the raw peer (copied). */
  received: Frame[];
  logs: LogRecord[];
  closed: boolean;
  sendFrame(frame: Partial<Frame> & Pick<Frame, "op">): void;
  sendBytes(bytes: Uint8Array): void;
  /** Answer connection-level pings automatically. */
  autoPong: boolean;
}

export function frame(f: Partial<Frame> & Pick<Frame, "op">): Frame {
  return { ...emptyFrame(), ...f };
}

export function rawPeer(options?: Partial<ConnectionOptions>, registry = new HandlerRegistry()): RawPeer {
  const logs: LogRecord[] = [];
  const rec = (level: string) => (message: string, fields?: Record<string, unknown>) => {
    logs.push({ level, message, fields });
  };
  const logger: Logger = { debug: rec("debug"), info: rec("info"), warn: rec("warn"), error: rec("error") };
  const conn = new Connection({ local: "c", remote: "raw", handlers: registry, options: { logger, ...options } });
  const [t, raw] = memoryTransportPair();
  const peer: RawPeer = {
    conn,
    registry,
    raw,
    received: [],
    logs,
    closed: false,
    autoPong: false,
    sendFrame: (f) => raw.send(encodeFrame(frame(f))),
    sendBytes: (b) => raw.send(b),
  };
  raw.setHandlers({
    onMessage: (data) => {
      decodeMessage(data, { maxPayloadBytes: 1 << 30 }, emptyFrame(), (f) => {
        const copy = { ...f, payload: f.payload?.slice() };
        peer.received.push(copy);
        if (peer.autoPong && f.op === 3 && f.muxId === 0) peer.sendFrame({ op: 4, payload: copy.payload });
      });
    },
    onClose: () => {
      peer.closed = true;
    },
  });
  conn.attach(t);
  return peer;
}
