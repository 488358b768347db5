/**
 * #9 item 7: a process that stalls (a long synchronous job, a GC pause) right after a link
 * came up must not drop that healthy link: a timer that fires late lets pending I/O be read
 * before it judges the peer. The scenario, 10 times at once (each repetition in its
 * own child process, stalled with Atomics.wait so the stall burns no CPU): a 12 s stall right
 * after connect, 5 times on the listening side and 5 times on the dialling side.
 *
 * Default liveness options (ping every 10 s, dead after 20 s). This file covers the ping
 * timers; the dial and handshake timers can add their cases here.
 */
import { afterAll, expect, it } from "vitest";
import { sharedSecretAuth } from "../../runtime/auth/shared-secret.js";
import { Manager } from "../../runtime/cluster/manager.js";
import type { Logger } from "../../runtime/types.js";
import { Handlers, SECRET, diallingNames, freePort, sleep, startProbe, startTarget, type Probe, type Target } from "./harness.js";

const STALL_MS = 12_000;
const REPETITIONS_PER_SIDE = 5;
const children: Target[] = [];
const probes: Probe[] = [];
let here: Manager | undefined;

afterAll(async () => {
  await Promise.all(probes.map((p) => p.close()));
  await here?.close();
  await Promise.all(children.map((c) => c.close()));
});

it("a 12 s stall right after connect, on either side, 10 times at once, never drops a healthy link", async () => {
  const t0 = Date.now();
  // Listening side stalls: children that stall as soon as a peer connects, dialled from here.
  const stallingListeners = await Promise.all(
    Array.from({ length: REPETITIONS_PER_SIDE }, () => startTarget({ stallOnConnectMs: STALL_MS, probes: 1, evils: 0 })),
  );
  children.push(...stallingListeners);
  console.log(`[adversarial] stall: listeners up after ${Date.now() - t0} ms`);
  // Dialling side stalls: children that dial a Manager here and stall once connected.
  const hereUrl = `ws://127.0.0.1:${await freePort()}/grid`;
  const diallerNames = diallingNames(hereUrl, "stalling-dialler", REPETITIONS_PER_SIDE);
  const hereStates: string[] = [];
  const quiet: Logger = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };
  here = new Manager({ local: hereUrl, hosts: [hereUrl, ...diallerNames], auth: sharedSecretAuth(SECRET), logger: quiet });
  here.registerSingle(Handlers.Echo, (p) => p);
  here.onStateChange((peer, state) => hereStates.push(`${peer} ${state}`));
  await here.listen();
  const stallingDiallers = await Promise.all(
    diallerNames.map((name) => startTarget({ stallOnConnectMs: STALL_MS, dial: { as: name, peer: hereUrl } })),
  );
  children.push(...stallingDiallers);
  console.log(`[adversarial] stall: diallers up after ${Date.now() - t0} ms`);

  // Connect everything; each child stalls the moment its link is up.
  probes.push(...(await Promise.all(stallingListeners.map((t) => startProbe(t, 0, 10_000)))));
  const probeStates: string[] = [];
  for (const p of probes) p.manager.onStateChange((peer, state) => probeStates.push(`${peer} ${state}`));
  await Promise.all(diallerNames.map((name) => here!.connection(name).waitConnected({ signal: AbortSignal.timeout(10_000) })));
  const connectedAt = Date.now();

  // Through the stall and beyond: calls made during it are answered once it ends.
  const during = await Promise.all([
    ...probes.map((p) => p.call(STALL_MS + 8000)),
    ...diallerNames.map((name) => here!.connection(name).request(Handlers.Echo, new Uint8Array([1]), { timeoutMs: STALL_MS + 8000 })),
  ]);
  expect(during).toHaveLength(2 * REPETITIONS_PER_SIDE);
  // Past the stall by more than a ping period: any verdict a late timer could reach is in.
  await sleep(Math.max(0, connectedAt + STALL_MS + 4000 - Date.now()));

  for (const c of children) expect(c.alive()).toBe(true);
  const peers = await Promise.all(children.map((c) => c.peers()));
  for (const p of peers) expect(p.stalls).toBe(1);
  // No link was ever dropped: not here, not in any child (a dialler goes through
  // "connecting" once, before its first "connected").
  expect(probeStates.filter((s) => !s.endsWith(" connected"))).toEqual([]);
  expect(hereStates.filter((s) => !s.endsWith(" connected"))).toEqual([]);
  for (const c of children) {
    expect(c.states.filter((s) => s.state === "disconnected" || s.state === "closed")).toEqual([]);
    expect(c.states.filter((s) => s.state === "connected")).toHaveLength(1);
  }
  // And every link still carries calls.
  for (const p of probes) await p.call();
  for (const name of diallerNames) await here.connection(name).request(Handlers.Echo, new Uint8Array([2]), { timeoutMs: 3000 });
  console.log(`[adversarial] stall: ${2 * REPETITIONS_PER_SIDE} links, ${STALL_MS} ms stall after connect, 0 dropped; ${Date.now() - t0} ms in all`);
}, 120_000);
