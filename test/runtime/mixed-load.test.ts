import { describe, expect, it } from "vitest";
import { bytes, makePair, text, transports, until } from "./helpers.js";

describe.each(transports)("mixed load over %s", (kind) => {
  it("streams and single requests in both directions at once all complete correctly", async () => {
    const pair = await makePair(kind, { checksum: kind === "ws" });
    const { a, b, ra, rb } = pair;
    for (const reg of [ra, rb]) {
      reg.registerSingle(1, async (p) => bytes(`echo:${text(p)}`));
      reg.registerStream(2, async function* (_p, input) {
        let n = 0;
        for await (const m of input!) {
          n++;
          yield bytes(`${text(m)}!`);
        }
        yield bytes(`count:${n}`);
      }, { inCapacity: 4, outCapacity: 3 });
      reg.registerStream(3, async function* (p) {
        const n = Number(text(p!));
        for (let i = 0; i < n; i++) yield bytes(String(i));
      }, { outCapacity: 2, subroute: "s" });
    }
    const bidi = async (from: typeof a, id: number): Promise<void> => {
      const s = await from.newStream(2);
      const reading = (async () => {
        const got: string[] = [];
        for await (const m of s.responses) got.push(text(m));
        return got;
      })();
      for (let i = 0; i < 50; i++) await s.requests!.send(bytes(`${id}.${i}`));
      s.requests!.close();
      const got = await reading;
      expect(got).toHaveLength(51);
      expect(got[0]).toBe(`${id}.0!`);
      expect(got[50]).toBe("count:50");
    };
    const source = async (from: typeof a): Promise<void> => {
      const s = await from.subroute("s").newStream(3, bytes("100"));
      let i = 0;
      for await (const m of s.responses) expect(text(m)).toBe(String(i++));
      expect(i).toBe(100);
    };
    const singles = async (from: typeof a, n: number): Promise<void> => {
      const answers = await Promise.all(Array.from({ length: n }, (_, i) => from.request(1, bytes(String(i)))));
      answers.forEach((r, i) => expect(text(r)).toBe(`echo:${i}`));
    };
    await Promise.all([
      ...Array.from({ length: 10 }, (_, i) => bidi(a, i)),
      ...Array.from({ length: 10 }, (_, i) => bidi(b, 100 + i)),
      ...Array.from({ length: 5 }, () => source(a)),
      ...Array.from({ length: 5 }, () => source(b)),
      singles(a, 1000),
      singles(b, 1000),
    ]);
    await until(() => a.stats.inFlight === 0 && b.stats.inFlight === 0);
    expect(a.state).toBe("connected");
    await pair.close();
  });
});
