/**
 * `Single<Id, void, Res>`: a handler without a request (was GG010, so users declared empty
 * interfaces and called `kv.stats({})`). The client method takes only options; the server
 * method takes only the context.
 */
import { afterEach, describe, expect, it } from "vitest";
import type { HandlerContext } from "tsgrid";
import { generate } from "../../codegen/generate.js";
import { makePair, transports, type Pair } from "../runtime/helpers.js";
import { KvClient, registerKv, type KvServer } from "./fixtures/golden/kv/out/kv.js";

let pair: Pair | undefined;
afterEach(async () => {
  await pair?.close();
  pair = undefined;
});

describe("a handler without a request", () => {
  it("is accepted by gridgen (no GG010)", () => {
    const result = generate(["test/codegen/fixtures/golden/kv/kv.grid.ts"]);
    expect(result.diagnostics).toEqual([]);
    expect(result.files[0]?.text).toContain("stats(opts?: CallOptions): Promise<KvStats> {");
    expect(result.files[0]?.text).toContain("stats(ctx: HandlerContext): Promise<KvStats> | KvStats;");
  });

  for (const kind of transports) {
    it(`kv.stats() round trips (${kind})`, async () => {
      pair = await makePair(kind);
      const seen: unknown[] = [];
      const impl: KvServer = {
        put: () => ({ ok: true }),
        putMany: async function* () {},
        stats: (ctx: HandlerContext) => {
          seen.push(typeof ctx);
          return { keys: 42 };
        },
      };
      registerKv(pair.rb, impl);
      const kv = new KvClient(pair.a);
      expect(await kv.stats()).toEqual({ keys: 42 });
      expect(await kv.stats({ timeoutMs: 5_000 })).toEqual({ keys: 42 });
      expect(seen).toEqual(["object", "object"]);
    });
  }
});
