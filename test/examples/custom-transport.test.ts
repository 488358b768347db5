import { describe, expect, it } from "vitest";
import { main as unixSocket } from "../../examples/custom-transport/unix-socket.js";
import { main as existingHttpServer } from "../../examples/custom-transport/existing-http-server.js";

describe("examples/custom-transport", () => {
  it("two Managers talk over Unix sockets (ConnDialer + incomingConn)", async () => {
    expect(await unixSocket()).toBe('ws://beta/grid got "hello over a unix socket" from ws://alpha/grid');
  });

  it("a Manager mounted on an existing http.Server keeps its ordinary routes", async () => {
    const { health, reply } = await existingHttpServer();
    expect(health).toBe("ok");
    expect(reply).toMatch(/^it is 1970-01-01T00:00:00.000Z at ws:\/\/127\.0\.0\.1:\d+\/grid$/);
  });
});
