/** Wire constants of STTP as implemented (IEEE 2664 / GEP lineage): codes, flags and masks. */

/** Commands, subscriber → publisher. */
export const ServerCommand = {
  Connect: 0x00,
  MetadataRefresh: 0x01,
  Subscribe: 0x02,
  Unsubscribe: 0x03,
  RotateCipherKeys: 0x04,
  UpdateProcessingInterval: 0x05,
  DefineOperationalModes: 0x06,
  ConfirmNotification: 0x07,
  ConfirmBufferBlock: 0x08,
  ConfirmUpdateBaseTimes: 0x09,
  ConfirmUpdateSignalIndexCache: 0x0a,
  ConfirmUpdateCipherKeys: 0x0b,
  GetPrimaryMetadataSchema: 0x0c,
  GetSignalSelectionSchema: 0x0d,
  UserCommand00: 0xd0,
} as const;

/** Responses, publisher → subscriber. */
export const ServerResponse = {
  Succeeded: 0x80,
  Failed: 0x81,
  DataPacket: 0x82,
  UpdateSignalIndexCache: 0x83,
  UpdateBaseTimes: 0x84,
  UpdateCipherKeys: 0x85,
  DataStartTime: 0x86,
  ProcessingComplete: 0x87,
  BufferBlock: 0x88,
  Notify: 0x89,
  ConfigurationChanged: 0x8a,
  UserResponse00: 0xe0,
  NoOP: 0xff,
} as const;

export function isKnownCommand(code: number): boolean {
  return (code >= 0x00 && code <= 0x0d) || (code >= 0xd0 && code <= 0xdf);
}

export function isKnownResponse(code: number): boolean {
  return (code >= 0x80 && code <= 0x8a) || (code >= 0xe0 && code <= 0xef) || code === 0xff;
}

export function commandName(code: number): string {
  for (const [name, value] of Object.entries(ServerCommand)) if (value === code) return name;
  if (code >= 0xd0 && code <= 0xdf) return `UserCommand${(code - 0xd0).toString().padStart(2, "0")}`;
  return `0x${code.toString(16).padStart(2, "0")}`;
}

export function responseName(code: number): string {
  for (const [name, value] of Object.entries(ServerResponse)) if (value === code) return name;
  if (code >= 0xe0 && code <= 0xef) return `UserResponse${(code - 0xe0).toString().padStart(2, "0")}`;
  return `0x${code.toString(16).padStart(2, "0")}`;
}

/** Bits of the OperationalModes word (payload of DefineOperationalModes). */
export const OperationalModes = {
  VersionMask: 0x0000001f,
  CompressionModeGZip: 0x00000020,
  CompressionModeTSSC: 0x00000040,
  EncodingUTF16LE: 0x00000000,
  EncodingUTF16BE: 0x00000100,
  EncodingUTF8: 0x00000200,
  EncodingMask: 0x00000300,
  ImplementationSpecificExtensionMask: 0x00ff0000,
  ReceiveExternalMetadata: 0x02000000,
  ReceiveInternalMetadata: 0x04000000,
  CompressPayloadData: 0x20000000,
  CompressSignalIndexCache: 0x40000000,
  CompressMetadata: 0x80000000,
} as const;

/** Flags byte of a DataPacket. */
export const DataPacketFlags = {
  Synchronized: 0x01,
  Compact: 0x02,
  CipherIndex: 0x04,
  Compressed: 0x08,
  CacheIndex: 0x10,
} as const;

/** Compact measurement state flags (one byte per measurement). */
export const CompactFlags = {
  DataRange: 0x01,
  DataQuality: 0x02,
  TimeQuality: 0x04,
  SystemIssue: 0x08,
  CalculatedValue: 0x10,
  DiscardedValue: 0x20,
  BaseTimeOffset: 0x40,
  TimeIndex: 0x80,
} as const;

/** Full 32-bit state flag masks that each compact flag stands for. */
export const StateFlagMasks = {
  DataRange: 0x000000fc,
  DataQuality: 0x0000ef03,
  TimeQuality: 0x00bf0000,
  SystemIssue: 0xe0000000,
  CalculatedValue: 0x00001000,
  DiscardedValue: 0x00400000,
} as const;

/** Frame header sizes. */
export const FRAME_SIZE_PREFIX = 4;
export const RESPONSE_HEADER_SIZE = 6;
/** Payload limit of the first message in either direction (sanity rule against non-STTP peers). */
export const MAX_INITIAL_PAYLOAD = 8192;
/** `Common::MaxPacketSize` of cppapi/goapi: the data packet size publishers aim for. */
export const MAX_PACKET_SIZE = 32768;
/** TSSC stream version byte. */
export const TSSC_VERSION = 85;
/** Default publisher ports. */
export const DEFAULT_PORT = 7165;
export const DEFAULT_TLS_PORT = 7167;
/** .NET ticks at the Unix epoch. */
export const UNIX_BASE_OFFSET_TICKS = 621355968000000000n;
export const TICKS_PER_MILLISECOND = 10000n;
