/**
 * fast-check arbitraries. Records: one per Record type, always valid. Msg bodies: derived from
 * protobufjs reflection of usp-msg-1-4.proto, producing objects of the ts-proto generated shape
 * (camelCase names, oneofs as { $case, value }, maps as plain objects, enums as numbers).
 */
import fc from "fast-check";
import type protobuf from "protobufjs";
import {
  buildErrorMsg,
  buildRequestMsg,
  buildResponseMsg,
  disconnectRecord,
  type Msg,
  mqttConnectRecord,
  noSessionContextRecord,
  type Request,
  type Response,
  sessionContextRecord,
  stompConnectRecord,
  type UspRecord,
  udsConnectRecord,
  webSocketConnectRecord,
} from "../../src/index.js";
import { pbRoot } from "./protobufjs.js";

const UNRESERVED = [..."abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._"];

export const instanceIdArb = fc
  .array(fc.oneof(fc.constantFrom(...UNRESERVED), fc.constantFrom("%2F", "%3A", "%25")), {
    minLength: 1,
    maxLength: 16,
  })
  .map((parts) => parts.join(""));

export const endpointIdArb: fc.Arbitrary<string> = fc.oneof(
  instanceIdArb.map((i) => `self::${i}`),
  instanceIdArb.map((i) => `proto::${i}`),
  fc.tuple(fc.stringMatching(/^[0-9A-F]{6}$/), instanceIdArb).map(([oui, i]) => `oui:${oui}:${i}`),
  fc.tuple(fc.nat(99999), instanceIdArb).map(([pen, i]) => `pen:${pen}:${i}`),
  fc.uuid().map((u) => `uuid::${u}`),
  instanceIdArb.map((i) => `os::${i}`),
);

const versionArb = fc.tuple(fc.nat(9), fc.nat(9)).map(([a, b]) => `${a}.${b}`);
const addressingArb = fc.record({ toId: endpointIdArb, fromId: endpointIdArb, version: versionArb });
const payloadArb = fc.uint8Array({ minLength: 1, maxLength: 200 });
const uint64Arb = fc.bigInt({ min: 1n, max: (1n << 64n) - 1n });
const sarArb = fc.constantFrom(0, 1, 2, 3);

export const recordArbs: Record<string, fc.Arbitrary<UspRecord>> = {
  noSessionContext: fc
    .tuple(addressingArb, payloadArb)
    .map(([a, payload]) => noSessionContextRecord({ ...a, payload })),
  sessionContext: fc
    .record({
      a: addressingArb,
      sessionId: uint64Arb,
      sequenceId: uint64Arb,
      expectedId: uint64Arb,
      retransmitId: fc.oneof(fc.constant(0n), uint64Arb),
      sar: sarArb,
      sarRec: sarArb,
      tls: fc.boolean(),
      payload: fc.array(payloadArb, { maxLength: 3 }),
      mac: fc.uint8Array({ maxLength: 40 }),
    })
    .map((o) =>
      sessionContextRecord({
        ...o.a,
        sessionId: o.sessionId,
        sequenceId: o.sequenceId,
        expectedId: o.expectedId,
        retransmitId: o.retransmitId,
        payloadSarState: o.sar,
        payloadrecSarState: o.sar === 0 ? 0 : o.sarRec,
        payloadSecurity: o.tls ? 1 : 0,
        payload: o.tls ? o.payload : o.payload.slice(0, 1),
        macSignature: o.mac,
      }),
    ),
  websocketConnect: addressingArb.map((a) => webSocketConnectRecord(a)),
  mqttConnect: fc
    .tuple(
      addressingArb,
      fc.constantFrom("5" as const, "3.1.1" as const),
      fc.stringMatching(/^[a-z0-9/:._-]{1,40}$/),
    )
    .map(([a, mqttVersion, subscribedTopic]) => mqttConnectRecord({ ...a, mqttVersion, subscribedTopic })),
  stompConnect: fc
    .tuple(addressingArb, fc.string({ minLength: 1, maxLength: 40 }))
    .map(([a, subscribedDestination]) => stompConnectRecord({ ...a, subscribedDestination })),
  disconnect: fc
    .tuple(addressingArb, fc.string({ maxLength: 60 }), fc.nat(0xffffffff))
    .map(([a, reason, reasonCode]) => disconnectRecord({ ...a, reason, reasonCode })),
  udsConnect: addressingArb.map((a) => udsConnectRecord(a)),
};

export const anyRecordArb: fc.Arbitrary<UspRecord> = fc.oneof(...Object.values(recordArbs));

// ---- Msg bodies from reflection --------------------------------------------------------

function camel(name: string): string {
  return name.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase());
}

const cache = new Map<string, fc.Arbitrary<unknown>>();

function scalarArb(type: string): fc.Arbitrary<unknown> {
  switch (type) {
    case "string":
      return fc.string({ maxLength: 12 });
    case "bool":
      return fc.boolean();
    case "fixed32":
      return fc.nat(0xffffffff);
    default:
      throw new Error(`no arbitrary for ${type}`);
  }
}

function fieldArb(field: protobuf.Field, depth: number): fc.Arbitrary<unknown> {
  field.resolve();
  const resolved = field.resolvedType;
  let single: fc.Arbitrary<unknown>;
  if (resolved !== null && "values" in resolved && !("fields" in resolved)) {
    single = fc.constantFrom(...Object.values((resolved as protobuf.Enum).values));
  } else if (resolved !== null && "fields" in resolved) {
    single = messageArb(resolved as protobuf.Type, depth + 1);
  } else {
    single = scalarArb(field.type);
  }
  return single;
}

/** An object of the ts-proto shape for a reflected message type. */
export function messageArb(type: protobuf.Type, depth = 0): fc.Arbitrary<unknown> {
  const key = `${type.fullName}@${Math.min(depth, 4)}`;
  const cached = cache.get(key);
  if (cached !== undefined) return cached;
  const parts: Record<string, fc.Arbitrary<unknown>> = {};
  const maxItems = depth > 3 ? 0 : 2;
  for (const field of type.fieldsArray) {
    if (field.partOf !== null) continue;
    const name = camel(field.name);
    if ((field as unknown as protobuf.MapField).map === true) {
      parts[name] = fc.dictionary(
        fc.string({ minLength: 1, maxLength: 8 }).filter((k) => k !== "__proto__"),
        fc.string({ maxLength: 8 }),
        {
          maxKeys: maxItems,
        },
      );
    } else if (field.repeated) {
      parts[name] = fc.array(fieldArb(field, depth), { maxLength: maxItems });
    } else if (field.resolvedType !== null && "fields" in field.resolvedType) {
      parts[name] =
        depth > 3 ? fc.constant(undefined) : fc.option(fieldArb(field, depth), { nil: undefined });
    } else {
      parts[name] = fieldArb(field, depth);
    }
  }
  for (const oneof of type.oneofsArray) {
    const members = oneof.fieldsArray.map((f) =>
      fieldArb(f, depth).map((value) => ({ $case: camel(f.name), value })),
    );
    parts[camel(oneof.name)] = fc.option(fc.oneof(...members), { nil: undefined });
  }
  const arb = fc.record(parts);
  cache.set(key, arb);
  return arb;
}

function typeOfField(container: string, field: string): protobuf.Type {
  const f = pbRoot.lookupType(container).fields[field];
  if (f === undefined) throw new Error(`${container}.${field}`);
  f.resolve();
  return f.resolvedType as protobuf.Type;
}

const requestFields = pbRoot.lookupType("usp.Request").fieldsArray.map((f) => f.name);
const responseFields = pbRoot.lookupType("usp.Response").fieldsArray.map((f) => f.name);

const msgIdArb = fc.string({ minLength: 1, maxLength: 20 });

/** One arbitrary per Msg type: 11 requests, 11 responses and Error. */
export const msgArbs: Record<string, fc.Arbitrary<Msg>> = {
  error: fc
    .tuple(
      msgIdArb,
      fc.nat(0xffffffff),
      fc.string({ maxLength: 20 }),
      fc.array(messageArb(pbRoot.lookupType("usp.Error.ParamError")), { maxLength: 2 }),
    )
    .map(([id, code, text, paramErrs]) => buildErrorMsg(id, code, text, paramErrs as never)),
};
for (const name of requestFields) {
  const $case = camel(name);
  msgArbs[$case] = fc
    .tuple(msgIdArb, messageArb(typeOfField("usp.Request", name)))
    .map(([id, value]) => buildRequestMsg(id, { $case, value } as NonNullable<Request["reqType"]>));
}
for (const name of responseFields) {
  const $case = camel(name);
  msgArbs[$case] = fc
    .tuple(msgIdArb, messageArb(typeOfField("usp.Response", name)))
    .map(([id, value]) => buildResponseMsg(id, { $case, value } as NonNullable<Response["respType"]>));
}
