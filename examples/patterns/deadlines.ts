/**
 * Deadlines and cancellation, on both sides of a call (docs/deadlines-and-cancellation.md quotes this file).
 *   npm run build && node dist/examples/patterns/deadlines.js
 */
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";
import { AbortError, DeadlineExceededError } from "tsgrid";
import { serverLog, twoNodes } from "./jobs-server.js";

export async function main(): Promise<string[]> {
  const out: string[] = [];
  const { client, close } = await twoNodes();
  try {
    // #region timeout
    try {
      await client.run({ ms: 5_000 }, { timeoutMs: 50 });
    } catch (err) {
      if (err instanceof DeadlineExceededError) out.push("gave up after 50 ms");
    }
    // #endregion timeout

    // #region abort
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 20);
    try {
      await client.run({ ms: 5_000 }, { signal: controller.signal });
    } catch (err) {
      if (err instanceof AbortError) out.push("cancelled by the caller");
    }
    // #endregion abort

    // #region stream-break
    const progress = await client.follow({ ms: 1_000 });
    for await (const { percent } of progress.responses) {
      out.push(`${percent}%`);
      if (percent >= 30) break; // leaving the loop cancels the stream on the server too
    }
    // #endregion stream-break

    // The server saw each cancellation (its ctx.signal fired, its generator's finally ran).
    await sleep(50);
    out.push(...serverLog.map((line) => `server: ${line}`));
  } finally {
    await close();
  }
  return out;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) console.log((await main()).join("\n"));
