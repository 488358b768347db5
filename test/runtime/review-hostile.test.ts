/**
 * Review: a hostile or broken peer's words reach our logs and errors only in bounded size.
 */
import { describe, expect, it } from "vitest";
import { Op } from "../../runtime/protocol/frame.js";
import { until } from "./helpers.js";
import { rawPeer } from "./raw-peer.js";

describe("a Disconnect frame with a huge reason", () => {
  it("ends the connection with a reason cut to the error-message limit", async () => {
    const peer = rawPeer();
    let reason: Error | undefined;
    peer.conn.onStateChange((_s, _p, r) => (reason = r));
    peer.sendFrame({ op: Op.Disconnect, payload: new TextEncoder().encode("x".repeat(200_000)) });
    await until(() => peer.conn.state === "disconnected", 2000);
    expect(reason?.message.length).toBeLessThan(4200);
    peer.conn.close();
  });
});
