/**
 * @packageDocumentation
 * `@x/taps-core`: the IETF TAPS transport services interface (draft-ietf-taps-interface-06,
 * with RFC 9622 names accepted as aliases) on Node. Preconnections with Local/Remote Endpoints,
 * Transport Properties and Security Parameters select a protocol stack among TCP, TLS over TCP,
 * UDP and Unix domain sockets; establishment races candidates per RFC 8305; Connections send and
 * receive Messages (with Message Framers over byte streams) with the events and ordering of -06.
 *
 * ```ts
 * const pre = new Preconnection({
 *   remote: new RemoteEndpoint().withHostname("example.com").withPort(4443),
 *   transportProperties: TransportProperties.profile("reliable-message"),
 *   securityParameters: new SecurityParameters(),
 * }).addFramer(new LengthPrefixFramer());
 * const conn = pre.initiate({ timeout: 5000 });
 * await conn.ready;
 * await conn.send("hello");
 * const { data } = await conn.receive();
 * await conn.close();
 * ```
 */

export {
  type CertValidateTrustOptions,
  certValidateTrust,
  type PeerVerdict,
  type TlsPeerPolicy,
} from "./cert-validate.js";
export {
  CONNECTION_EVENT_ALIASES,
  Connection,
  type ConnectionEvents,
  ConnectionProperties,
  type ConnectionState,
  type ReceivedMessage,
} from "./connection.js";
export { type EndpointSnapshot, LocalEndpoint, RemoteEndpoint } from "./endpoint.js";
export {
  CloneError,
  ConnectionError,
  EndpointError,
  EstablishmentError,
  ExpiredError,
  FramerError,
  InitiateError,
  ListenError,
  PropertyError,
  ReceiveError,
  RendezvousError,
  SendError,
  StateError,
  TapsError,
  type TapsErrorCode,
  type TapsReason,
} from "./errors.js";
export {
  DelimiterFramer,
  type DelimiterFramerOptions,
  type Framer,
  type FramerControl,
  LengthPrefixFramer,
  type LengthPrefixFramerOptions,
} from "./framer.js";
export { LISTENER_EVENT_ALIASES, Listener, type ListenerEvents } from "./listener.js";
export { MessageContext } from "./message-context.js";
export {
  type InitiateOptions,
  Preconnection,
  type PreconnectionEvents,
  type PreconnectionInit,
  type PreconnectionOptions,
} from "./preconnection.js";
export {
  PROPERTY_REGISTRY,
  type Preference,
  type PreferenceInput,
  type ProfileName,
  type PropertyRow,
  TransportProperties,
} from "./properties.js";
export type { RaceTimelineEntry } from "./racer.js";
export { type Resolver, servicePort, systemResolver } from "./resolver.js";
export {
  type IdentityChallengeCallback,
  SecurityParameters,
  type SessionCachePolicy,
  type TrustContext,
  type TrustVerificationCallback,
} from "./security.js";
export { capabilities, type SelectionResult, type StackName } from "./selection.js";
export { TlsSessionCache, type TlsSessionCacheOptions } from "./session-cache.js";
export type { Candidate, SecurityNotice, TlsInfo, Transport } from "./transport.js";
