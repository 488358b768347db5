// tsgrid's public API. What users need first; what libraries and generated code need below.
export * from "./types.js";
export * from "./errors.js";
// Interceptors and per-call metadata.
export type {
  CallInfo,
  ClientCall,
  ClientInterceptor,
  ClientNext,
  ClientSingleCall,
  ClientStreamCall,
  Interceptors,
  ServerCall,
  ServerInterceptor,
  ServerNext,
  ServerSingleCall,
  ServerStreamCall,
  StreamObserver,
} from "./interceptors.js";
export type { Metadata } from "./protocol/metadata.js";
export { DEFAULT_MAX_METADATA_BYTES, MAX_METADATA_BYTES } from "./protocol/metadata.js";
// Runtime core: connection, handlers, transports.
export { Connection } from "./connection/connection.js";
export type { ConnectionState, ConnectionStats } from "./connection/connection.js";
export { DEFAULT_CONNECTION_OPTIONS } from "./connection/options.js";
export type { ConnectionOptions, CallTrace } from "./connection/options.js";
export { HandlerRegistry, DEFAULT_IN_CAPACITY, DEFAULT_OUT_CAPACITY, MAX_STREAM_CAPACITY } from "./handlers/handler-registry.js";
export type { StreamEntry } from "./handlers/handler-registry.js";
export { HandlerNames } from "./handlers/handler-names.js";
export { wsTransport } from "./transport/ws-transport.js";
export { memoryTransportPair } from "./transport/memory-transport.js";
export type { MessageTransport, TransportHandlers } from "./transport/message-transport.js";
export { encodeErrorPayload, decodeErrorPayload } from "./protocol/error-payload.js";
export * from "./codec/index.js";
// Cluster: the Manager, auth, dialling, logging.
export { Manager, DEFAULT_DRAIN_TIMEOUT_MS } from "./cluster/manager.js";
export type { ManagerOptions, ListenOptions, PeerStateListener, DrainOptions } from "./cluster/manager.js";
export { shouldDial } from "./cluster/who-dials.js";
export { backoffDelay, defaultBackoffOptions } from "./cluster/backoff.js";
export type { BackoffOptions } from "./cluster/backoff.js";
export { PROTOCOL_VERSION } from "./cluster/handshake.js";
export type { ClusterAuth } from "./auth/cluster-auth.js";
export { sharedSecretAuth } from "./auth/shared-secret.js";
export { connectWS } from "./transport/connect-ws.js";
export type { ConnectWSOptions } from "./transport/connect-ws.js";
export { tcpDialer, createTcpDialer } from "./transport/dialer.js";
export type { ConnDialer, TcpDialerOptions } from "./transport/dialer.js";
export { consoleLogger, silentLogger, LogLevel } from "./logger.js";
export type { ConsoleLoggerOptions } from "./logger.js";
