import { describe, expect, it } from "vitest";
import { sharedSecretAuth } from "../../runtime/auth/shared-secret.js";

const A = "ws://127.0.0.1:9001/grid";
const B = "ws://127.0.0.1:9002/grid";
const C = "ws://127.0.0.1:9003/grid";

describe("sharedSecretAuth", () => {
  it("accepts a token from the same secret, for the right pair and direction", () => {
    const a = sharedSecretAuth("s3cret");
    const b = sharedSecretAuth("s3cret");
    const token = a.token(B, A) as string; // A proves itself to B
    expect(b.verify(token, A, B)).toBe(true);
  });

  it("refuses another secret, another pair, the reverse direction and garbage", () => {
    const a = sharedSecretAuth("s3cret");
    const b = sharedSecretAuth("s3cret");
    const wrong = sharedSecretAuth("other");
    expect(b.verify(wrong.token(B, A) as string, A, B)).toBe(false);
    expect(b.verify(a.token(C, A) as string, A, B)).toBe(false); // meant for C
    expect(b.verify(a.token(B, A) as string, C, B)).toBe(false); // claimed by C
    expect(b.verify(a.token(B, A) as string, B, A)).toBe(false); // reflected back
    for (const junk of ["", "v1", "v1...", "v2.abc.def.ghi", "x".repeat(10_000), "v1.zzzzzzzzzzzz.AAAAAAAAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"]) {
      expect(b.verify(junk, A, B)).toBe(false);
    }
  });

  it("refuses a tampered token", () => {
    const a = sharedSecretAuth("s3cret");
    const b = sharedSecretAuth("s3cret");
    const token = a.token(B, A) as string;
    const parts = token.split(".");
    const time = (parseInt(parts[1]!, 36) + 1).toString(36);
    expect(b.verify([parts[0], time, parts[2], parts[3]].join("."), A, B)).toBe(false);
    const mac = parts[3]!;
    const flipped = (mac[0] === "A" ? "B" : "A") + mac.slice(1);
    expect(b.verify([parts[0], parts[1], parts[2], flipped].join("."), A, B)).toBe(false);
  });

  it("refuses a token outside the skew window", () => {
    let now = 1_000_000_000_000;
    const a = sharedSecretAuth("s3cret", { now: () => now });
    const b = sharedSecretAuth("s3cret", { now: () => now, maxSkewMs: 1000 });
    const token = a.token(B, A) as string;
    now += 1001;
    expect(b.verify(token, A, B)).toBe(false);
    now -= 2002;
    expect(b.verify(token, A, B)).toBe(false);
    now += 1001;
    expect(b.verify(token, A, B)).toBe(true);
  });

  it("refuses a replayed token, and forgets nonces once expired", () => {
    let now = 1_000_000_000_000;
    const a = sharedSecretAuth("s3cret", { now: () => now });
    const b = sharedSecretAuth("s3cret", { now: () => now, maxSkewMs: 1000, maxRememberedNonces: 2 });
    const t1 = a.token(B, A) as string;
    expect(b.verify(t1, A, B)).toBe(true);
    expect(b.verify(t1, A, B)).toBe(false);
    expect(b.verify(a.token(B, A) as string, A, B)).toBe(true);
    // Full: fail closed until entries expire.
    expect(b.verify(a.token(B, A) as string, A, B)).toBe(false);
    now += 1500;
    expect(b.verify(a.token(B, A) as string, A, B)).toBe(true);
  });

  it("does not put the secret in the token", () => {
    const token = sharedSecretAuth("very-secret-value").token(B, A) as string;
    expect(token).not.toContain("very-secret-value");
    expect(token).toMatch(/^v1\./);
  });

  it("rejects an empty secret", () => {
    expect(() => sharedSecretAuth("")).toThrow(RangeError);
  });
});
