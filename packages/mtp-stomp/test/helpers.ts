import { decodeRecord, encodeRecord, noSessionContextRecord } from "@x/usp-record";
import type { Mtp, MtpError, MtpEvents, ReceivedRecord } from "@x/usp-record/mtp";

/** Msg Get{msg_id "1", Device.DeviceInfo.} (golden vector from the USP digest). */
export const GET_MSG = Buffer.from(
  "0a050a0131100112180a160a140a124465766963652e446576696365496e666f2e",
  "hex",
);

export function getRecord(toId: string, fromId: string, payload: Uint8Array = GET_MSG): Uint8Array {
  return encodeRecord(noSessionContextRecord({ toId, fromId, payload }));
}

export { decodeRecord };

/** Collects events of an MTP so tests can wait for them. */
export class Recorder {
  readonly records: ReceivedRecord[] = [];
  readonly errors: MtpError[] = [];
  readonly states: string[] = [];
  readonly peers: Array<{ event: "connected" | "disconnected"; id: string | undefined }> = [];

  constructor(mtp: Mtp) {
    mtp.on("record", (r: MtpEvents["record"][0]) => this.records.push(r));
    mtp.on("error", (e) => this.errors.push(e));
    mtp.on("state", (s) => this.states.push(s));
    mtp.on("peerConnected", (p) => this.peers.push({ event: "connected", id: p.endpointId }));
    mtp.on("peerDisconnected", (p) => this.peers.push({ event: "disconnected", id: p.endpointId }));
  }

  /** Records other than Connect/Disconnect Records. */
  data(): ReceivedRecord[] {
    return this.records.filter((r) => r.record.recordType?.$case === "noSessionContext");
  }
}

export function uniqueName(prefix: string): string {
  return `${prefix}-${process.pid}-${Date.now().toString(36)}-${Math.floor(Math.random() * 1e6).toString(36)}`;
}
