/**
 * What a caller sees when things go wrong (docs/errors.md quotes this file).
 *   npm run build && node dist/examples/patterns/errors.js
 */
import { fileURLToPath } from "node:url";
import { DisconnectedError, ErrorCode, GridError, RemoteError, type Caller } from "tsgrid";
import { JobsClient, JobsHandlerID } from "./generated/jobs.js";
import { twoNodes } from "./jobs-server.js";

// #region classify
/** What to do about a failed call, decided on the code, never on the message text. */
function classify(err: unknown): string {
  if (!(err instanceof GridError)) throw err; // a bug in our own code: let it crash
  switch (err.code) {
    case ErrorCode.Remote:
      return `the handler failed: ${err.rawMessage}`;
    case ErrorCode.Disconnected:
      return "the peer is unreachable: try another one, or later";
    case ErrorCode.DeadlineExceeded:
    case ErrorCode.Aborted:
      return "we gave up waiting";
    case ErrorCode.InvalidPayload:
      return `a peer sent data that does not match the schema: ${err.rawMessage}`;
    default:
      return `tsgrid refused the call (${err.code}): ${err.rawMessage}`;
  }
}
// #endregion classify

export async function main(): Promise<string[]> {
  const out: string[] = [];
  const { client, managers, hosts, close } = await twoNodes();
  try {
    // #region remote-error
    try {
      await client.run({ ms: 0, fail: "disk full" });
    } catch (err) {
      if (err instanceof RemoteError) out.push(`RemoteError: ${err.rawMessage}`); // "disk full"
    }
    // #endregion remote-error

    // Bytes that are not a Job: the server's generated decoder refuses them, the handler never runs.
    const conn: Caller = managers[0]!.connection(hosts[1]!);
    const notAJob = new Uint8Array([0x81, 0xa2, 0x6d, 0x73, 0xa3, 0x31, 0x30, 0x30]); // msgpack {ms: "100"}
    await conn.request(JobsHandlerID.run, notAJob).catch((err: unknown) => out.push(classify(err)));

    // #region disconnected
    await managers[1]!.close(); // the peer goes away
    const started = performance.now();
    try {
      await client.run({ ms: 10 });
    } catch (err) {
      if (err instanceof DisconnectedError) {
        // No waiting for a timeout: calls to a peer that is down fail at once.
        out.push(`DisconnectedError after ${(performance.now() - started).toFixed(1)} ms`);
      }
    }
    // #endregion disconnected
    await new JobsClient(conn).run({ ms: 0 }).catch((err: unknown) => out.push(classify(err)));
  } finally {
    await close();
  }
  return out;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) console.log((await main()).join("\n"));
