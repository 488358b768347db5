/**
 * The child side of a server process: starts a server, reports its port, answers usage
 * probes, and exits on "stop" or when the orchestrator goes away (so no orphan survives).
 */
import { settleGc, usageNow, type FromServer, type ToServer } from "./ipc.js";

export interface StartedServer {
  port: number;
  info?: Record<string, unknown>;
  close(): Promise<void> | void;
}

function send(msg: FromServer): void {
  if (process.connected) process.send?.(msg);
}

export function runServerChild(start: () => Promise<StartedServer>): void {
  let server: StartedServer | undefined;
  const exit = async (code: number): Promise<void> => {
    const stopTimer = setTimeout(() => process.exit(code), 1000);
    stopTimer.unref();
    try {
      await server?.close();
    } finally {
      process.exit(code);
    }
  };
  process.on("disconnect", () => void exit(0));
  // The orchestrator may be gone before this module loaded: then "disconnect" never fires.
  if (!process.connected) void exit(0);
  process.on("message", (raw: unknown) => {
    const msg = raw as ToServer;
    if (msg.type === "stop") void exit(0);
    else if (msg.type === "usage") {
      void (async () => {
        if (msg.gc) await settleGc();
        send({ type: "usage", id: msg.id, usage: usageNow() });
      })();
    }
  });
  start().then(
    (s) => {
      server = s;
      send({ type: "listening", port: s.port, ...(s.info ? { info: s.info } : {}) });
    },
    (err: unknown) => {
      send({ type: "error", message: String((err as Error)?.stack ?? err) });
      void exit(1);
    },
  );
}
