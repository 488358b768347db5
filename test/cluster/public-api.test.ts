/** The cluster's public surface, as users import it from "tsgrid" (compile-time and runtime). */
import type { Duplex } from "node:stream";
import { describe, expect, expectTypeOf, it } from "vitest";
import {
  Manager,
  PROTOCOL_VERSION,
  backoffDelay,
  connectWS,
  consoleLogger,
  createTcpDialer,
  defaultBackoffOptions,
  sharedSecretAuth,
  shouldDial,
  silentLogger,
  tcpDialer,
  type ClusterAuth,
  type ConnDialer,
  type Connection,
  type ConnectionState,
  type ManagerOptions,
} from "tsgrid";

describe("public cluster API", () => {
  it("exports the Manager and its helpers", () => {
    for (const value of [Manager, backoffDelay, connectWS, consoleLogger, createTcpDialer, sharedSecretAuth, shouldDial, tcpDialer]) {
      expect(typeof value).toBe("function");
    }
    expect(PROTOCOL_VERSION).toBe(2); // 2: challenge-response handshake
    expect(defaultBackoffOptions.maxDelayMs).toBe(10_000);
    expect(typeof silentLogger.error).toBe("function");
  });

  it("has the documented types", () => {
    expectTypeOf<ConnDialer>().toEqualTypeOf<(address: string, signal: AbortSignal) => Promise<Duplex>>();
    // Connection options pass through the Manager's options.
    expectTypeOf<{ local: string; hosts: string[]; pingIntervalMs: number; trace: () => void }>().toMatchTypeOf<ManagerOptions>();
    // An auth that ignores the `local` argument is still a ClusterAuth.
    expectTypeOf<{ token(remote: string): string; verify(token: string, remote: string): Promise<boolean> }>().toMatchTypeOf<ClusterAuth>();
    expectTypeOf<Manager["connection"]>().returns.toEqualTypeOf<Connection>();
    expectTypeOf<Parameters<Parameters<Manager["onStateChange"]>[0]>[1]>().toEqualTypeOf<ConnectionState>();
  });
});
