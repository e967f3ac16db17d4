/**
 * Record integrity (R-E2E.28-39): ECDSA P-256 signatures with sender_cert, and HMAC-SHA256 with
 * keys exported from a real TLS session on loopback (label EXPORTER-BBF-USP-Record).
 */
import { once } from "node:events";
import type { AddressInfo } from "node:net";
import tls from "node:tls";
import { createPki, type Pki, tlsOptions } from "@x/test-certs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeRecord, encodeRecord, type UspRecord } from "../src/index.js";
import {
  computeMacSignature,
  E2ESession,
  hmacKeysFromTls,
  type IntegrityMethod,
  integrityInput,
} from "../src/session/index.js";
import { AGENT, CONTROLLER } from "./session-harness.js";

let pki: Pki;
beforeAll(async () => {
  pki = await createPki();
});

const enc = new TextEncoder();

function engines(agentMethod: IntegrityMethod, controllerMethod: IntegrityMethod) {
  return {
    agent: new E2ESession({
      localEndpointId: AGENT,
      remoteEndpointId: CONTROLLER,
      role: "agent",
      integrity: { method: agentMethod, requireFromPeer: true },
    }),
    controller: new E2ESession({
      localEndpointId: CONTROLLER,
      remoteEndpointId: AGENT,
      role: "controller",
      integrity: { method: controllerMethod, requireFromPeer: true },
    }),
  };
}

function tamper(bytes: Uint8Array, change: (r: UspRecord) => void): Uint8Array {
  const record = decodeRecord(bytes);
  change(record);
  return encodeRecord(record);
}

describe("integrity input", () => {
  it("is the non-payload fields in field order, uint64 as 8 bytes and enums as 4 bytes big-endian", () => {
    const input = integrityInput({
      version: "1.4",
      toId: "a",
      fromId: "b",
      payloadSecurity: 1,
      macSignature: new Uint8Array([9, 9]),
      senderCert: new Uint8Array([0xcc]),
      recordType: {
        $case: "sessionContext",
        value: {
          sessionId: 2n,
          sequenceId: 3n,
          expectedId: 4n,
          retransmitId: 0n,
          payloadSarState: 1,
          payloadrecSarState: 2,
          payload: [new Uint8Array([0xee])],
        },
      },
    });
    const hex = Buffer.from(input).toString("hex");
    expect(hex).toBe(
      [
        "312e34", // "1.4"
        "61", // to_id
        "62", // from_id
        "00000001", // payload_security
        "cc", // sender_cert (mac_signature excluded)
        "0000000000000002",
        "0000000000000003",
        "0000000000000004",
        "0000000000000000",
        "00000001",
        "00000002",
      ].join(""),
    );
  });
});

describe("ECDSA P-256 signatures with sender_cert", () => {
  it("signed Records verify; a changed field, a wrong key or a certificate for another Endpoint fails and restarts", () => {
    const { agent, controller } = engines(
      { kind: "signature", privateKey: pki.agent.keyPem, certificatePem: pki.agent.certPem },
      { kind: "signature", privateKey: pki.controller.keyPem, certificatePem: pki.controller.certPem },
    );
    const first = controller.send(enc.encode("get"), 0).records[0]!;
    expect(decodeRecord(first).macSignature.length).toBeGreaterThan(60);
    expect(agent.receive(first, 1).messages).toHaveLength(1);

    const second = controller.send(enc.encode("set"), 2).records[0]!;
    const changed = tamper(second, (r) => {
      if (r.recordType?.$case === "sessionContext") r.recordType.value.expectedId += 1n;
    });
    const out = agent.receive(changed, 3);
    expect(out.messages).toEqual([]);
    expect(
      out.events.some((e) => e.type === "record-ignored" && e.error?.message.includes("does not verify")),
    ).toBe(true);
    expect(out.events.some((e) => e.type === "session-restarted")).toBe(true);

    // A certificate that does not carry urn:bbf:usp:id:proto::controller cannot speak for it.
    const impostor = new E2ESession({
      localEndpointId: CONTROLLER,
      remoteEndpointId: AGENT,
      role: "controller",
      integrity: {
        method: { kind: "signature", privateKey: pki.server.keyPem, certificatePem: pki.server.certPem },
      },
    });
    const forged = impostor.send(enc.encode("x"), 4).records[0]!;
    const verdict = agent.receive(forged, 5);
    expect(verdict.messages).toEqual([]);
    expect(
      verdict.events.some(
        (e) => e.type === "record-ignored" && /does not speak for/.test(e.error?.message ?? ""),
      ),
    ).toBe(true);
  });

  it("a Record without mac_signature is refused when integrity is required (R-E2E.30)", () => {
    const { agent } = engines(
      { kind: "signature", privateKey: pki.agent.keyPem, certificatePem: pki.agent.certPem },
      { kind: "signature", privateKey: pki.controller.keyPem, certificatePem: pki.controller.certPem },
    );
    const plain = new E2ESession({
      localEndpointId: CONTROLLER,
      remoteEndpointId: AGENT,
      role: "controller",
    });
    const out = agent.receive(plain.send(enc.encode("x"), 0).records[0]!, 1);
    expect(out.messages).toEqual([]);
    expect(
      out.events.some(
        (e) => e.type === "record-ignored" && /required but absent/.test(e.error?.message ?? ""),
      ),
    ).toBe(true);
  });
});

describe("HMAC-SHA256 with TLS-exported keys", () => {
  let server: tls.Server;
  let serverSide: tls.TLSSocket;
  let clientSide: tls.TLSSocket;

  beforeAll(async () => {
    server = tls.createServer({ ...tlsOptions(pki.server, pki.root), minVersion: "TLSv1.2" });
    const accepted = once(server, "secureConnection");
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    const { port } = server.address() as AddressInfo;
    clientSide = tls.connect({ host: "127.0.0.1", port, ca: pki.root.certPem, servername: "localhost" });
    await once(clientSide, "secureConnect");
    [serverSide] = (await accepted) as [tls.TLSSocket];
  });
  afterAll(async () => {
    clientSide?.destroy();
    serverSide?.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it("both ends derive the same two keys, and each side's MAC verifies at the other", () => {
    const clientKeys = hmacKeysFromTls(clientSide, "client");
    const serverKeys = hmacKeysFromTls(serverSide, "server");
    if (clientKeys.kind !== "hmac" || serverKeys.kind !== "hmac") throw new Error("unexpected");
    expect(clientKeys.sendKey).toEqual(serverKeys.receiveKey);
    expect(clientKeys.receiveKey).toEqual(serverKeys.sendKey);
    expect(clientKeys.sendKey).not.toEqual(clientKeys.receiveKey);

    // The Agent is the TLS client of the MTP here.
    const { agent, controller } = engines(clientKeys, serverKeys);
    const toController = agent.send(enc.encode("notify"), 0).records[0]!;
    expect(decodeRecord(toController).macSignature).toHaveLength(32);
    expect(controller.receive(toController, 1).messages.map((m) => new TextDecoder().decode(m))).toEqual([
      "notify",
    ]);
    const reply = controller.send(enc.encode("notify-resp"), 2).records[0]!;
    expect(agent.receive(reply, 3).messages).toHaveLength(1);

    // A MAC made with the wrong key (the receiver's own) fails and the context restarts.
    const wrong = tamper(controller.send(enc.encode("again"), 4).records[0]!, (r) => {
      r.macSignature = computeMacSignature(r, {
        kind: "hmac",
        sendKey: clientKeys.sendKey,
        receiveKey: clientKeys.sendKey,
      });
    });
    const out = agent.receive(wrong, 5);
    expect(out.messages).toEqual([]);
    expect(out.events.some((e) => e.type === "session-restarted")).toBe(true);
  });
});
