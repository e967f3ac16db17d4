/**
 * @packageDocumentation
 * STTP (IEEE 2664) for Node.js: publisher and subscriber, each able to dial or listen (forward and
 * reverse connections), over TCP with an optional UDP data channel, and over TLS with a strict
 * default policy and the seed's named tolerances. Includes the data plane needed to be useful:
 * operational modes, metadata, subscriptions, the double-buffered signal index cache, compact
 * measurements, TSSC, cipher keys for UDP, notifications and user commands.
 */

export {
  type CipherKeyPair,
  type CipherKeys,
  decodeCipherKeys,
  decryptPayload,
  encodeCipherKeys,
  encryptPayload,
  generateCipherKeyPair,
} from "./cipher.js";
export {
  buildSubscribeConnectionString,
  formatConnectionString,
  parseConnectionString,
  type SubscribeStringOptions,
  type SubscriptionSettings,
} from "./connection-string.js";
export {
  Connector,
  type ReconnectingEvent,
  type ReconnectOptions,
  type ResolvedReconnectOptions,
  resolveReconnectOptions,
  retryDelayMs,
} from "./connector.js";
export {
  CompactFlags,
  commandName,
  DataPacketFlags,
  DEFAULT_PORT,
  DEFAULT_TLS_PORT,
  MAX_PACKET_SIZE,
  OperationalModes,
  responseName,
  ServerCommand,
  ServerResponse,
  StateFlagMasks,
  TSSC_VERSION,
} from "./constants.js";
export {
  decodeTsscPacket,
  encodeCompactPackets,
  encodeTsscPackets,
  type RoutedMeasurement,
  type TsscPacketResult,
} from "./data-packet.js";
export * from "./errors.js";
export type {
  Expr as FilterExpr,
  OrderByTerm as FilterOrderByTerm,
  Statement as FilterStatement,
} from "./filter/ast.js";
export {
  MAX_EVALUATION_STEPS as MAX_FILTER_EVALUATION_STEPS,
  MAX_REGEX_INPUT_LENGTH,
  MAX_REGEX_PATTERN_LENGTH,
  MAX_REGEX_UNBOUNDED_QUANTIFIERS,
  MAX_STRING_LENGTH as MAX_FILTER_STRING_LENGTH,
} from "./filter/evaluate.js";
export {
  MAX_FILTER_DEPTH,
  MAX_FILTER_EXPRESSION_LENGTH,
  MAX_TOP as MAX_FILTER_TOP,
  parseFilterExpression,
} from "./filter/parser.js";
export {
  type Command,
  encodeCommand,
  encodeDatagram,
  encodeResponse,
  FrameReader,
  type FrameReaderOptions,
  parseCommand,
  parseResponse,
  type Response,
} from "./framing.js";
export { EMPTY_GUID, normalizeGuid, readGuid, writeGuid } from "./guid.js";
export {
  type CompactFormat,
  compactMeasurementSize,
  compactToStateFlags,
  decodeCompactMeasurements,
  type Measurement,
  stateToCompactFlags,
  writeCompactMeasurement,
} from "./measurement.js";
export {
  countMeasurementDetails,
  FILTER_TABLES,
  filterMetadata,
  type MeasurementDefinition,
  renderMetadataXml,
  resolveFilterExpression,
} from "./metadata.js";
export { Publisher, PublisherClient, type PublisherEvents, type PublisherOptions } from "./publisher.js";
export {
  decodeSignalIndexCache,
  encodeSignalIndexCache,
  SignalIndexCache,
  type SignalIndexEntry,
} from "./signal-index-cache.js";
export {
  type ConnectionInfo,
  type HandshakeInfo,
  type SubscribedInfo,
  Subscriber,
  type SubscriberEvents,
  type SubscriberOptions,
} from "./subscriber.js";
export {
  operationalModesWord,
  type SubscriberProtocolOptions,
  SubscriberSession,
} from "./subscriber-session.js";
export { ticksFromUnixMs, ticksNow, ticksToIso, ticksToUnixMs } from "./ticks.js";
export { evaluatePeerWithCertValidate } from "./tls-cert-validate.js";
export {
  evaluatePeerWithNode,
  fingerprintSha256,
  type PeerContext,
  type SecurityWarning,
  type SecurityWarningKind,
  type TlsOptions,
  type TlsTolerances,
} from "./tls-policy.js";
export {
  type DialOptions,
  dial,
  type Endpoint,
  type Established,
  type Listener,
  type ListenOptions,
  listen,
} from "./transport.js";
export { TsscCode, TsscDecoder, TsscEncoder } from "./tssc.js";
