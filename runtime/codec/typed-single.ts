/**
 * The typed single request behind generated clients: encode, request, decode (with validation).
 * Not an async function: a call costs the request's promise and one `then`, not an async
 * frame around an `await` (about 100 ns less per call); an encoder's error is still a rejection.
 */
import type { CallOptions, Caller, HandlerID } from "../types.js";
import type { Codec } from "./codec.js";

/** Sends `req` encoded by `reqCodec` to `handler`; resolves with the answer decoded and validated by `resCodec`. */
export function requestTyped<Req, Res>(
  caller: Caller,
  handler: HandlerID,
  reqCodec: Codec<Req>,
  req: Req,
  resCodec: Codec<Res>,
  opts: CallOptions | undefined,
): Promise<Res> {
  let payload: Uint8Array;
  try {
    payload = reqCodec.encode(req);
  } catch (err) {
    return Promise.reject(err);
  }
  return caller.request(handler, payload, opts).then(resCodec.decode);
}

const noPayload = new Uint8Array(0);

/** `requestTyped` for a handler without a request message: sends an empty payload. */
export function requestTypedEmpty<Res>(caller: Caller, handler: HandlerID, resCodec: Codec<Res>, opts: CallOptions | undefined): Promise<Res> {
  return caller.request(handler, noPayload, opts).then(resCodec.decode);
}
