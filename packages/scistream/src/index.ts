/**
 * @packageDocumentation
 * SciStream (draft-scistream-protocol-02) for Node: the S2CS gRPC control server, the S2DS
 * TLS-PSK data plane (worker threads, no external proxy processes), and the S2UC client library,
 * wire-compatible with the reference implementation (service `scistream.Control`) and secure by
 * default (authenticated control plane, PSK-only cipher suites, ports returned on release).
 *
 * @example
 * ```ts
 * import { S2cs, S2ucClient, staticTokenAuth, generateUid } from "@x/scistream";
 * const s2cs = new S2cs({ tls: { cert, key }, auth: staticTokenAuth({ [token]: "alice" }) });
 * const port = await s2cs.listen();
 * const s2uc = new S2ucClient({ address: `localhost:${port}`, ca, token });
 * const session = await s2uc.inboundRequest({ numConn: 2, receivers: ["127.0.0.1:7000"] });
 * await s2uc.release(session.uid);
 * ```
 */

export {
  type Authenticator,
  type IntrospectionAuthOptions,
  introspectionAuth,
  type JwtAuthOptions,
  jwtAuth,
  noAuth,
  type Principal,
  staticTokenAuth,
  tokenFromAuthorization,
} from "./auth.js";
export * from "./errors.js";
export {
  AppResponse,
  ControlClient,
  ControlService,
  Hello,
  Release,
  Request as RequestMessage,
  Response as ResponseMessage,
  SciStreamControlClient,
  SciStreamControlService,
  UpdateTargets,
} from "./gen/scistream.js";
export { jsonLogger, type Logger, type LogLevel, silentLogger } from "./log.js";
export { MetricsRegistry } from "./metrics.js";
export type { RateLimitOptions } from "./s2cs/rate-limiter.js";
export {
  type Role,
  S2cs,
  type S2csOptions,
  type S2csTlsOptions,
  type SessionInfo,
  type SessionState,
} from "./s2cs/server.js";
export type {
  ChannelDirection,
  ChannelSpec,
  ChannelStats,
  ChannelTarget,
  ChannelTransport,
} from "./s2ds/channel.js";
export { PortPool, type PortRange, parsePortRange } from "./s2ds/port-pool.js";
export {
  CIPHER_PROFILES,
  type CipherProfile,
  type CipherProfileName,
  REFERENCE_COMPAT_PROFILE,
  SECURE_PROFILE,
  TLS12_PROFILE,
} from "./s2ds/profiles.js";
export {
  formatHostPort,
  type OpenSessionOptions,
  parseHostPort,
  S2ds,
  type S2dsOptions,
  S2dsSession,
} from "./s2ds/s2ds.js";
export { type ReqParams, S2ucClient, type S2ucOptions, type SessionResult } from "./s2uc/client.js";
export {
  derivedIdentity,
  derivedPsk,
  generateUid,
  generateUuidUid,
  REFERENCE_PSK_IDENTITY,
  referencePsk,
  validateUid,
} from "./uid.js";
