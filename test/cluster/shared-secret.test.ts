import { describe, expect, it } from "vitest";
import { sharedSecretAuth } from "../../runtime/auth/shared-secret.js";
import { newChallenge } from "../../runtime/cluster/handshake.js";

const A = "ws://127.0.0.1:9001/grid";
const B = "ws://127.0.0.1:9002/grid";
const C = "ws://127.0.0.1:9003/grid";

describe("sharedSecretAuth (challenge-response)", () => {
  it("accepts a token from the same secret, for the right pair, direction and challenge", () => {
    const a = sharedSecretAuth("s3cret");
    const b = sharedSecretAuth("s3cret");
    const ch = newChallenge(); // issued by B for this link
    const token = a.token(B, A, ch) as string; // A proves itself to B
    expect(b.verify(token, A, B, ch)).toBe(true);
  });

  it("refuses another secret, another pair, the reverse direction, another challenge and garbage", () => {
    const a = sharedSecretAuth("s3cret");
    const b = sharedSecretAuth("s3cret");
    const wrong = sharedSecretAuth("other");
    const ch = newChallenge();
    expect(b.verify(wrong.token(B, A, ch) as string, A, B, ch)).toBe(false);
    expect(b.verify(a.token(C, A, ch) as string, A, B, ch)).toBe(false); // meant for C
    expect(b.verify(a.token(B, A, ch) as string, C, B, ch)).toBe(false); // claimed by C
    expect(b.verify(a.token(B, A, ch) as string, B, A, ch)).toBe(false); // reflected back
    expect(b.verify(a.token(B, A, ch) as string, A, B, newChallenge())).toBe(false); // replayed on another link
    expect(b.verify(a.token(B, A, ch) as string, A, B, "")).toBe(false); // no challenge: fail closed
    for (const junk of ["", "v2", "v2.", "v1.abc.def.ghi", "x".repeat(10_000), `v2.${"A".repeat(43)}`]) {
      expect(b.verify(junk, A, B, ch)).toBe(false);
    }
  });

  it("refuses a tampered token", () => {
    const a = sharedSecretAuth("s3cret");
    const b = sharedSecretAuth("s3cret");
    const ch = newChallenge();
    const mac = (a.token(B, A, ch) as string).slice(3);
    const flipped = (mac[0] === "A" ? "B" : "A") + mac.slice(1);
    expect(b.verify(`v2.${flipped}`, A, B, ch)).toBe(false);
  });

  it("keeps no state: a new verifier (a restarted server) accepts only tokens for its own fresh challenges", () => {
    const a = sharedSecretAuth("s3cret");
    const ch = newChallenge();
    const captured = a.token(B, A, ch) as string;
    expect(sharedSecretAuth("s3cret").verify(captured, A, B, ch)).toBe(true);
    // After a restart B issues a new challenge: the captured token is worthless.
    const restarted = sharedSecretAuth("s3cret");
    expect(restarted.verify(captured, A, B, newChallenge())).toBe(false);
    // Many verifications leave nothing behind that could fill up.
    for (let i = 0; i < 10_000; i++) restarted.verify(a.token(B, A, `c${i}`) as string, A, B, `c${i}`);
    const fresh = newChallenge();
    expect(restarted.verify(a.token(B, A, fresh) as string, A, B, fresh)).toBe(true);
  });

  it("challenges are fresh and random", () => {
    const seen = new Set(Array.from({ length: 1000 }, () => newChallenge()));
    expect(seen.size).toBe(1000);
    for (const ch of seen) expect(ch).toMatch(/^[A-Za-z0-9_-]{24}$/);
  });

  it("does not put the secret in the token, and refuses to sign without a challenge", () => {
    const token = sharedSecretAuth("very-secret-value").token(B, A, newChallenge()) as string;
    expect(token).not.toContain("very-secret-value");
    expect(token).toMatch(/^v2\.[A-Za-z0-9_-]{43}$/);
    expect(() => sharedSecretAuth("s").token(B, A, "")).toThrow(RangeError);
  });

  it("rejects an empty secret", () => {
    expect(() => sharedSecretAuth("")).toThrow(RangeError);
  });
});
