/**
 * Which seeds a property test runs: `TSGRID_SEED` replays one (or a comma-separated list),
 * `TSGRID_SEEDS` sets how many, else the test's own default count. Seeds are 1, 2, 3, ...
 * so "seed 17" names the same run everywhere.
 */
import { normalizeSeed } from "./rng.js";

export interface SeedsOptions {
  /** Seeds run when the environment names none. */
  count: number;
  /** Where to read TSGRID_SEED / TSGRID_SEEDS. Default `process.env`. */
  env?: Record<string, string | undefined>;
}

/** The seeds to run, from the environment or the default count. */
export function seedsFromEnv(options: SeedsOptions): number[] {
  const env = options.env ?? process.env;
  const one = env["TSGRID_SEED"]?.trim();
  if (one !== undefined && one !== "") {
    return one.split(",").map((s) => {
      const n = Number(s.trim());
      if (!Number.isInteger(n) || n < 0) throw new RangeError(`TSGRID_SEED must be integers, got ${JSON.stringify(s)}`);
      return normalizeSeed(n);
    });
  }
  const many = env["TSGRID_SEEDS"]?.trim();
  const count = many !== undefined && many !== "" ? Number(many) : options.count;
  if (!Number.isInteger(count) || count < 1) throw new RangeError(`TSGRID_SEEDS must be a positive integer, got ${JSON.stringify(many)}`);
  return Array.from({ length: count }, (_, i) => i + 1);
}
