/**
 * The grpc-js reference service, without protobuf: raw Buffer (de)serializers, so the
 * numbers measure grpc-js and HTTP/2, not a codec.
 */
import type { ServiceDefinition } from "@grpc/grpc-js";

const identity = (b: Buffer): Buffer => b;

export const echoService = {
  unary: {
    path: "/bench.Echo/Unary",
    requestStream: false,
    responseStream: false,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  },
  bidi: {
    path: "/bench.Echo/Bidi",
    requestStream: true,
    responseStream: true,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  },
} satisfies ServiceDefinition;

/** Channel options of both sides: no retry buffering, so bidi backpressure is real. */
export const grpcOptions = {
  "grpc.per_rpc_retry_buffer_size": 0,
  "grpc.max_receive_message_length": 64 * 1024 * 1024,
  "grpc.max_send_message_length": 64 * 1024 * 1024,
} as const;
