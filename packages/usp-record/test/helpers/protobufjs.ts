/** protobufjs reflection over the same .proto files: an independent codec to cross-check ours. */
import { fileURLToPath } from "node:url";
import protobuf from "protobufjs";

const protoDir = fileURLToPath(new URL("../../proto/", import.meta.url));

export const pbRoot = protobuf.loadSync([`${protoDir}usp-record-1-4.proto`, `${protoDir}usp-msg-1-4.proto`]);
export const PbRecord = pbRoot.lookupType("usp_record.Record");
export const PbMsg = pbRoot.lookupType("usp.Msg");
export { protobuf };
