/** The Jobs service and a two-node cluster to call it, shared by the errors and deadlines examples. */
import { setTimeout as sleep } from "node:timers/promises";
import { Manager, sharedSecretAuth, silentLogger } from "tsgrid";
import { freePorts } from "../free-ports.js";
import { JobsClient, registerJobs, type JobsServer } from "./generated/jobs.js";

/** What the servers saw: how each job ended on the server side. */
export const serverLog: string[] = [];

// #region handler-signal
const jobs: JobsServer = {
  async run({ ms, fail }, ctx) {
    const started = Date.now();
    try {
      // Give the signal to everything that waits: it aborts when the caller cancels,
      // when the deadline passes, or when the connection drops.
      await sleep(ms, undefined, { signal: ctx.signal });
    } catch (err) {
      serverLog.push(`run stopped early: ${ctx.signal.reason}`);
      throw err;
    }
    if (fail !== undefined) throw new Error(fail); // the caller gets a RemoteError
    return { tookMs: Date.now() - started };
  },
  // #endregion handler-signal
  // #region stream-finally
  async *follow({ ms }, ctx) {
    try {
      for (let percent = 10; percent <= 100; percent += 10) {
        await sleep(ms / 10, undefined, { signal: ctx.signal });
        yield { percent };
      }
    } finally {
      // Runs however the stream ends: done, failed, or cancelled by the caller.
      serverLog.push(ctx.signal.aborted ? `follow cancelled: ${ctx.signal.reason}` : "follow ended");
    }
  },
  // #endregion stream-finally
};

/** Two Managers on free ports; `client` calls the second from the first. */
export async function twoNodes(): Promise<{ client: JobsClient; managers: Manager[]; hosts: string[]; close(): Promise<void> }> {
  const hosts = (await freePorts(2)).map((port) => `ws://127.0.0.1:${port}/grid`);
  const managers: Manager[] = [];
  for (const local of hosts) {
    const manager = new Manager({ local, hosts, auth: sharedSecretAuth("patterns"), logger: silentLogger });
    registerJobs(manager, jobs);
    await manager.listen();
    managers.push(manager);
  }
  const conn = managers[0]!.connection(hosts[1]!);
  await conn.waitConnected({ signal: AbortSignal.timeout(5_000) });
  return {
    client: new JobsClient(conn),
    managers,
    hosts,
    close: async () => void (await Promise.all(managers.map((m) => m.close()))),
  };
}
