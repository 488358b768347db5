/**
 * Type signatures quoted by docs/auth.md and docs/operations.md, declared as the docs show
 * them and checked against the types tsgrid exports: when those change, `tsc` fails here
 * until the docs follow.
 */
import type { Duplex } from "node:stream";
import type {
  CallTrace as ExportedCallTrace,
  ClusterAuth as ExportedClusterAuth,
  ConnDialer,
  ConnectWSOptions,
  GridError,
  HandlerID,
  ListenOptions,
  TcpDialerOptions,
} from "tsgrid";

// #region cluster-auth
interface ClusterAuth {
  token(remote: string, local: string, challenge: string): string | Promise<string>;
  verify(token: string, remote: string, local: string, challenge: string): boolean | Promise<boolean>;
}
// #endregion cluster-auth

// #region call-trace
interface CallTrace {
  handler: HandlerID;
  handlerName?: string | undefined; // "Locker.lock", when generated code named it
  subroute: string | undefined;
  peer: string; // the server at the other end
  direction: "out" | "in"; // out: this side called; in: this side served
  kind: "single" | "stream";
  durationMs: number;
  bytesIn: number; // payload bytes received (a stream: every message)
  bytesOut: number; // payload bytes sent
  error?: GridError; // set when the call failed
}
// #endregion call-trace

/** True when A and B are the same type (not merely assignable either way). */
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;

export const docTypesMatchExports: [Equal<ClusterAuth, ExportedClusterAuth>, Equal<CallTrace, ExportedCallTrace>] = [true, true];

/**
 * Option lists docs/operations.md gives inline: `listen({ port?, host?, tls? })`,
 * `connectWS(address, { dialer?, headers?, signal?, maxPayload?, maskFrames?, onUpgrade? })`, `createTcpDialer({ tls })`
 * and `ConnDialer` as `(address, signal) => Promise<Duplex>`.
 */
export const inlineListsMatchExports: [
  Equal<keyof ListenOptions, "port" | "host" | "tls">,
  Equal<keyof ConnectWSOptions, "dialer" | "headers" | "signal" | "maxPayload" | "maskFrames" | "onUpgrade">,
  Equal<keyof TcpDialerOptions, "tls">,
  Equal<Parameters<ConnDialer>, [address: string, signal: AbortSignal]>,
  Equal<ReturnType<ConnDialer>, Promise<Duplex>>,
] = [true, true, true, true, true];
