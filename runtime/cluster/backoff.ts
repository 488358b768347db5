/**
 * Reconnect delays: capped exponential backoff with jitter, so a cluster that loses a
 * server does not hammer it in lockstep when it comes back.
 */

export interface BackoffOptions {
  /** Delay before the first retry, in ms. Default 100. */
  initialDelayMs: number;
  /** Upper bound of any delay, in ms. Default 10_000. */
  maxDelayMs: number;
  /** Growth factor per failed attempt. Default 2. */
  multiplier: number;
  /**
   * Fraction of the delay that is random, 0..1: the delay is drawn uniformly from
   * `[d * (1 - jitter), d]`. Default 0.5.
   */
  jitter: number;
}

const MAX_DELAY_MS = 2 ** 31 - 1;

export const defaultBackoffOptions: Readonly<BackoffOptions> = Object.freeze({
  initialDelayMs: 100,
  maxDelayMs: 10_000,
  multiplier: 2,
  jitter: 0.5,
});

/** Validates and completes backoff options; throws RangeError on nonsense. */
export function resolveBackoffOptions(options: Partial<BackoffOptions> = {}): BackoffOptions {
  const resolved = { ...defaultBackoffOptions, ...options };
  const { initialDelayMs, maxDelayMs, multiplier, jitter } = resolved;
  // A timer holds at most 2^31-1 ms; a longer delay would fire after 1 ms.
  if (!(initialDelayMs >= 0) || !(maxDelayMs >= initialDelayMs) || !(maxDelayMs <= MAX_DELAY_MS)) {
    throw new RangeError(`backoff needs 0 <= initialDelayMs <= maxDelayMs <= ${MAX_DELAY_MS}, got ${initialDelayMs}, ${maxDelayMs}`);
  }
  if (!(multiplier >= 1)) throw new RangeError(`backoff multiplier must be >= 1, got ${multiplier}`);
  if (!(jitter >= 0 && jitter <= 1)) throw new RangeError(`backoff jitter must be within 0..1, got ${jitter}`);
  return resolved;
}

/**
 * Delay before retry number `attempt` (0 for the first retry). `random` returns a number in
 * [0, 1) and is injectable for tests.
 */
export function backoffDelay(attempt: number, options: BackoffOptions, random: () => number = Math.random): number {
  // Exponent clamped so the power never overflows to Infinity * 0 = NaN.
  const exponent = Math.min(Math.max(attempt, 0), 64);
  const ceiling = Math.min(options.maxDelayMs, options.initialDelayMs * options.multiplier ** exponent);
  return Math.round(ceiling * (1 - options.jitter * random()));
}
