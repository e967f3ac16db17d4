/**
 * `@x/usp-record/mtp`: the MTP contract, its shared errors and the TR-181 retry formulas.
 * @packageDocumentation
 */

export { MtpError, type MtpErrorCode } from "./errors.js";
export type {
  CloseOptions,
  Mtp,
  MtpEmitter,
  MtpEvents,
  MtpFactory,
  MtpState,
  PeerInfo,
  ReceivedRecord,
  ReturnPath,
  SendOptions,
  UspRole,
} from "./interface.js";
export {
  type ExponentialRetryParameters,
  exponentialRetryDelayMs,
  exponentialRetryWindowMs,
  RETRY_COUNT_CAP,
  RETRY_DEFAULTS,
  type StompRetryParameters,
  stompRetryDelayMs,
} from "./retry.js";
