/**
 * Interceptors and metadata (docs/operations.md quotes this file): a client interceptor that
 * gives every call a request id, a server interceptor that checks a tenant and logs one line
 * per call with its handler's name and outcome, and a handler that reads `ctx.metadata`.
 * test/runtime/interceptors.test.ts runs it over real sockets.
 */
import { randomUUID } from "node:crypto";
import { GridError, UnauthenticatedError, type ClientInterceptor, type ServerInterceptor } from "tsgrid";

// #region request-id
/** Gives every outgoing call an `x-request-id` (unless the caller set one). */
export const requestId: ClientInterceptor = (next) => async (call) => {
  call.metadata["x-request-id"] ??= randomUUID();
  return next(call);
};
// #endregion request-id

// #region access-log
/** Refuses calls without a known tenant; logs every call with its name, duration and outcome. */
export function accessLog(tenants: ReadonlySet<string>, log: (line: string) => void): ServerInterceptor {
  return (next) => async (call) => {
    const tenant = call.metadata["tenant"];
    if (tenant === undefined || !tenants.has(tenant)) {
      throw new UnauthenticatedError(`unknown tenant ${JSON.stringify(tenant)}`);
    }
    const name = call.handlerName ?? `handler ${call.handler}`;
    const started = performance.now();
    const done = (code: string): void =>
      log(`${call.metadata["x-request-id"]} ${name} from ${call.peer}: ${code} in ${(performance.now() - started).toFixed(1)} ms`);
    if (call.stream) {
      // A stream's outcome comes when it ends, not when the handler starts.
      call.observe({ onEnd: (err) => done(err?.code ?? "ok") });
      return next(call);
    }
    try {
      const answer = await next(call);
      done("ok");
      return answer;
    } catch (err) {
      done(GridError.from(err).code);
      throw err;
    }
  };
}
// #endregion access-log
