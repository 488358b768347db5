/**
 * The bidirectional pattern "send everything, close, then read" deadlocks once a stream has
 * more messages than inCapacity + outCapacity: the caller waits for an input credit while it
 * holds unread responses, and the handler waits at its `yield` for an output credit. That
 * is now logged on the caller's side; reading while sending (docs/streams.md) does not stall.
 */
import { afterEach, describe, expect, it } from "vitest";
import { GreeterClient, registerGreeter, type GreeterServer } from "../../examples/quickstart/generated/greeter.js";
import type { Logger } from "../../runtime/types.js";
import { makePair, until, type Pair } from "../runtime/helpers.js";

const greeter: GreeterServer = {
  hello: ({ name }) => ({ message: name }),
  async *count() {},
  async *sum(numbers) {
    let sum = 0;
    for await (const { n } of numbers) yield { sum: (sum += n) };
  },
};

function recorder(): { logger: Logger; warnings: { message: string; fields: Record<string, unknown> | undefined }[] } {
  const warnings: { message: string; fields: Record<string, unknown> | undefined }[] = [];
  const noop = (): void => {};
  return { warnings, logger: { debug: noop, info: noop, error: noop, warn: (message, fields) => void warnings.push({ message, fields }) } };
}

let pair: Pair | undefined;
afterEach(async () => {
  await pair?.close();
  pair = undefined;
});

describe("a bidirectional stream whose two directions wait on each other", () => {
  it("send all, then read: stuck after inCapacity + outCapacity messages, and a warning says so", async () => {
    const { logger, warnings } = recorder();
    pair = await makePair("memory", { logger, streamPingIntervalMs: 30 });
    registerGreeter(pair.rb, greeter);
    const sums = await new GreeterClient(pair.a).sum();
    let sent = 0;
    const sending = (async () => {
      for (let n = 1; n <= 1000; n++) {
        await sums.requests.send({ n });
        sent++;
      }
    })();
    await until(() => warnings.length > 0, 3000);
    // 128 in (the generated default) + 128 out (the runtime default): then nothing moves.
    expect(sent).toBeLessThan(1000);
    expect(sent).toBeGreaterThanOrEqual(128);
    expect(warnings[0]!.message).toBe("stream stuck: the caller waits to send and does not read");
    expect(warnings[0]!.fields).toMatchObject({ handler: 3, unreadResponses: 128 });
    await sums.cancel();
    await sending.catch(() => {});
  });

  it("reading while sending: all 1000 go through and nothing is logged", async () => {
    const { logger, warnings } = recorder();
    pair = await makePair("memory", { logger, streamPingIntervalMs: 30 });
    registerGreeter(pair.rb, greeter);
    const client = new GreeterClient(pair.a);
    // #region read-while-sending
    const sums = await client.sum();
    // Read in parallel with the sends: each response read frees a credit for the handler,
    // which then takes the next input and frees a credit for `send`.
    const reading = (async () => {
      let last = 0;
      for await (const { sum } of sums.responses) last = sum;
      return last;
    })();
    for (let n = 1; n <= 1000; n++) await sums.requests.send({ n });
    sums.requests.close();
    const total = await reading;
    // #endregion read-while-sending
    expect(total).toBe(1000 * 1001 / 2);
    expect(warnings).toEqual([]);
  });
});
