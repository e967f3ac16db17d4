/**
 * `@x/usp-record/session`: the transport-free E2E Session Context engine, segmentation and
 * reassembly, and Record integrity (TR-369 R-E2E.*).
 * @packageDocumentation
 */
export {
  type E2EEngineLimits,
  type E2ESessionParameters,
  ENGINE_DEFAULTS,
  resolveLimits,
  resolveParameters,
  type SessionMode,
  TR181_DEFAULTS,
} from "./config.js";
export {
  E2ESession,
  type E2ESessionOptions,
  SEQUENCE_LIMIT,
  type SessionEvent,
  type SessionOutput,
  type SessionSnapshot,
} from "./engine.js";
export { SessionError, type SessionErrorCode } from "./errors.js";
export {
  computeMacSignature,
  ECDSA_P256_MAX_SIGNATURE,
  HMAC_SHA256_LENGTH,
  hmacKeysFromTls,
  type IntegrityMethod,
  type IntegrityOptions,
  integrityInput,
  macLengthOf,
  TLS_EXPORTER_LABEL,
  verifyMacSignature,
} from "./integrity.js";
export { concat, Reassembler, type SarInput, SarState, sarStateOf } from "./sar.js";
export { type LinkProfile, prng, SimulatedLink } from "./simulation.js";
export {
  payloadCapacity,
  recordHeaderSize,
  sessionFieldsSize,
  sessionRecordSize,
  varintSize,
} from "./size.js";
