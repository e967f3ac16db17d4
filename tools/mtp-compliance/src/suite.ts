/** The compliance cases, registered as vitest blocks by {@link mtpComplianceSuite}. */
import type { ExponentialRetryParameters, Mtp, SendOptions, StompRetryParameters } from "@x/usp-record/mtp";
import { describe, expect, it as vitestIt } from "vitest";
import { MtpRecorder } from "./recorder.js";
import { trackResources } from "./resources.js";
import {
  bytesEqual,
  getRequestMsg,
  noSessionContextPayload,
  noSessionContextRecordBytes,
  outOfRangeEnumRecordBytes,
  payloadSequence,
  recordOfSize,
  sequencedPayload,
  summarizeMsg,
} from "./wire.js";

/** The Record type an MTP is written against (`@x/usp-record`'s `UspRecord`). */
export type UspRecordObject = Exclude<Parameters<Mtp["send"]>[1], Uint8Array>;

/** One side of a pair. */
export interface CompliancePeer {
  /** The MTP, NOT yet opened: the suite opens it (so it sees the very first Record). */
  readonly mtp: Mtp;
  /** This side's own Endpoint ID (equals `mtp.localEndpointId`). */
  readonly endpointId: string;
  /** Extra options for `send()` when this side addresses the other one (e.g. nothing for WebSocket). */
  readonly sendOptions?: SendOptions | undefined;
}

export type Side = "agent" | "controller";

/**
 * What a factory returns. `agent` and `controller` may be getters: after `restartPeer()` resolves
 * the suite reads them again, so a factory that restarts a server-side Mtp may hand out new objects.
 */
export interface MtpPair {
  readonly agent: CompliancePeer;
  readonly controller: CompliancePeer;
  /**
   * In which order the suite calls `open()`; the listening side (WebSocket server) or the side that
   * must be subscribed first (the Controller on a broker) comes first. Default: controller, agent.
   */
  readonly openOrder?: readonly Side[] | undefined;
  /**
   * Stop the server or broker side abruptly and start it again on the same address; resolve once
   * it is listening again. The other side must notice and reconnect with its back-off.
   */
  restartPeer?(): Promise<void>;
  /**
   * Deliver raw bytes as one Record to `to`. Default: `pair[other].mtp.send(pair[to].endpointId, bytes)`,
   * which assumes the binding sends `Uint8Array` Records unvalidated (they are the sender's bytes).
   */
  sendRaw?(to: Side, bytes: Uint8Array): Promise<void>;
  /** Release everything the factory started (servers, clients, temporary files). The suite has
   *  already called `close()` on both MTPs (errors ignored). */
  teardown(): Promise<void>;
}

/** What the suite hands to the factory. */
export interface PairContext {
  /** Short back-off parameters to inject (seconds, like TR-181), so reconnect tests finish quickly. */
  readonly retry: {
    readonly exponential: ExponentialRetryParameters;
    readonly stomp: StompRetryParameters;
  };
  /** The running case, for naming queues, topics or temporary files. */
  readonly caseName: string;
  /** Distinct per pair (0, 1, 2, ...), for unique Endpoint IDs / topics within one run. */
  readonly index: number;
}

export type MtpPairFactory = (context: PairContext) => Promise<MtpPair>;

export interface ComplianceOptions {
  /** The Connect Record `$case` the Agent sends. Default from `agent.mtp.kind`: websocket ->
   *  "websocketConnect", mqtt -> "mqttConnect", stomp -> "stompConnect". */
  readonly connectRecordType?: string;
  /** True when the binding must close the connection on an unparseable Record (WebSocket
   *  R-WS.16: close 1003); the suite then waits for the reconnect. Default false. */
  readonly malformedClosesConnection?: boolean;
  /** Size of the large Record, whole Record bytes. Default 4 MiB. */
  readonly largeRecordBytes?: number;
  /** Records in the ordering cases. Default 1000. */
  readonly orderedRecordCount?: number;
  /** Run the peer-restart case (needs `restartPeer`). Default true. */
  readonly peerRestart?: boolean;
  /** Upper bound for each wait inside a case, ms. Default 20 000. */
  readonly waitTimeoutMs?: number;
  /** vitest timeout of each case, ms. Default 90 000. */
  readonly caseTimeoutMs?: number;
  /** How long the leak case waits for sockets and processes to finish closing, ms. Default 5000. */
  readonly leakSettleMs?: number;
}

const DEFAULT_RETRY: PairContext["retry"] = {
  exponential: { minimumWaitInterval: 0.05, intervalMultiplier: 2000, maxInterval: 0.5 },
  stomp: { initialInterval: 0.1, intervalMultiplier: 2000, maxInterval: 0.5 },
};

const CONNECT_TYPE_BY_KIND: Readonly<Record<string, string>> = {
  websocket: "websocketConnect",
  mqtt: "mqttConnect",
  stomp: "stompConnect",
};

/** A pair after `open()`, with recorders attached, as the cases use it. */
interface RunningPair {
  readonly pair: MtpPair;
  agent: MtpRecorder;
  controller: MtpRecorder;
  readonly agentId: string;
  readonly controllerId: string;
}

function other(side: Side): Side {
  return side === "agent" ? "controller" : "agent";
}

/**
 * Registers the MTP compliance cases as a vitest `describe(name)` block. Call it at the top level
 * of a test file (or inside your own `describe` with `beforeAll` starting shared brokers):
 *
 * ```ts
 * mtpComplianceSuite("ws: agent client -> controller server", async ({ retry }) => { ...; return pair; });
 * ```
 */
export function mtpComplianceSuite(
  name: string,
  factory: MtpPairFactory,
  options: ComplianceOptions = {},
): void {
  const cases = complianceCases(factory, options);
  const caseTimeoutMs = options.caseTimeoutMs ?? 90_000;
  describe(name, () => {
    for (const c of cases) vitestIt(c.name, () => c.run(), caseTimeoutMs);
  });
}

/** One compliance case; `run()` creates its own pair and always tears it down. */
export interface ComplianceCase {
  readonly name: string;
  run(): Promise<void>;
}

/**
 * The cases of {@link mtpComplianceSuite} as plain functions, for running one case directly
 * (e.g. to prove that a broken binding fails it).
 */
export function complianceCases(factory: MtpPairFactory, options: ComplianceOptions = {}): ComplianceCase[] {
  const waitMs = options.waitTimeoutMs ?? 20_000;
  const largeBytes = options.largeRecordBytes ?? 4 * 1024 * 1024;
  const orderedCount = options.orderedRecordCount ?? 1000;
  let pairIndex = 0;
  const cases: ComplianceCase[] = [];
  let running: RunningPair | undefined;

  const stop = async (): Promise<void> => {
    const r = running;
    running = undefined;
    if (r === undefined) return;
    r.agent.detach();
    r.controller.detach();
    await Promise.allSettled([
      r.pair.agent.mtp.close({ abrupt: true }),
      r.pair.controller.mtp.close({ abrupt: true }),
    ]);
    await r.pair.teardown();
  };

  const it = (caseName: string, body: () => Promise<void>): void => {
    cases.push({
      name: caseName,
      run: async () => {
        try {
          await body();
        } finally {
          await stop();
        }
      },
    });
  };

  {
    const create = async (caseName: string): Promise<MtpPair> =>
      factory({ retry: DEFAULT_RETRY, caseName, index: pairIndex++ });

    /** Opens the pair in its order and waits for the Agent's Connect Record at the Controller. */
    const start = async (caseName: string, beforeOpen?: (r: RunningPair) => void): Promise<RunningPair> => {
      const pair = await create(caseName);
      const r: RunningPair = {
        pair,
        agent: new MtpRecorder(pair.agent.mtp),
        controller: new MtpRecorder(pair.controller.mtp),
        agentId: pair.agent.endpointId,
        controllerId: pair.controller.endpointId,
      };
      running = r;
      beforeOpen?.(r);
      for (const side of pair.openOrder ?? (["controller", "agent"] as const)) await pair[side].mtp.open();
      await waitForConnectRecord(r, 1);
      return r;
    };

    const connectType = (r: RunningPair): string =>
      options.connectRecordType ?? CONNECT_TYPE_BY_KIND[r.pair.agent.mtp.kind] ?? "websocketConnect";

    const waitForConnectRecord = (r: RunningPair, count: number) =>
      r.controller.waitFor(
        `Connect Record #${count} from the Agent`,
        () => {
          const c = r.controller.records.filter(
            (x) => x.fromId === r.agentId && x.record.recordType?.$case === connectType(r),
          );
          return c.length >= count ? c[count - 1] : undefined;
        },
        waitMs,
      );

    const sendFrom = (r: RunningPair, from: Side, record: Uint8Array | UspRecordObject): Promise<void> => {
      const peer = r.pair[from];
      const toId = from === "agent" ? r.controllerId : r.agentId;
      return peer.mtp.send(toId, record, peer.sendOptions);
    };

    const sendRaw = (r: RunningPair, to: Side, bytes: Uint8Array): Promise<void> =>
      r.pair.sendRaw !== undefined ? r.pair.sendRaw(to, bytes) : sendFrom(r, other(to), bytes);

    const recorderOf = (r: RunningPair, side: Side): MtpRecorder =>
      side === "agent" ? r.agent : r.controller;

    const recordFromTo = (r: RunningPair, from: Side, payload: Uint8Array): Uint8Array =>
      noSessionContextRecordBytes({
        toId: from === "agent" ? r.controllerId : r.agentId,
        fromId: from === "agent" ? r.agentId : r.controllerId,
        payload,
      });

    /** Waits for a NoSessionContext Record carrying exactly `payload` at `side`. */
    const waitForPayload = (r: RunningPair, side: Side, payload: Uint8Array, what: string) => {
      const rec = recorderOf(r, side);
      return rec.waitFor(
        what,
        () =>
          rec.records.find((x) => {
            const value = x.record.recordType;
            return value?.$case === "noSessionContext" && bytesEqual(value.value.payload, payload);
          }),
        waitMs,
      );
    };

    it("sends the Agent's Connect Record before any other Record (R-MTP.6, R-MTP.8)", async () => {
      const early = getRequestMsg("early-1");
      let sentEarly: Promise<void> | undefined;
      const r = await start("connect-record-first", (r0) => {
        // Send the moment the Agent reports a peer: the Connect Record must still come first.
        r0.pair.agent.mtp.once("peerConnected", () => {
          sentEarly = sendFrom(r0, "agent", recordFromTo(r0, "agent", early));
          sentEarly.catch(() => undefined);
        });
      });
      await waitForPayload(r, "controller", early, "the Record sent on peerConnected");
      await sentEarly;
      const fromAgent = r.controller.records.filter((x) => x.fromId === r.agentId);
      expect(fromAgent[0]?.record.recordType?.$case).toBe(connectType(r));
      expect(fromAgent[0]?.record.toId).toBe(r.controllerId);
      expect(fromAgent[0]?.record.fromId).toBe(r.agentId);
      expect(fromAgent.findIndex((x) => x.record.recordType?.$case === "noSessionContext")).toBeGreaterThan(
        0,
      );
      expect(r.agent.mtp.state).toBe("open");
      expect(r.controller.mtp.state).toBe("open");
    });

    it("carries Records both ways, as bytes and as objects, and answers on the return path", async () => {
      const r = await start("both-directions");
      // Agent -> Controller, as bytes: the receiver sees exactly these bytes.
      const upPayload = getRequestMsg("up-1");
      const upBytes = recordFromTo(r, "agent", upPayload);
      await sendFrom(r, "agent", upBytes);
      const up = await waitForPayload(r, "controller", upPayload, "Agent -> Controller Record");
      expect(bytesEqual(up.bytes, upBytes)).toBe(true);
      expect(up.fromId).toBe(r.agentId);
      expect(up.record.toId).toBe(r.controllerId);
      expect(up.replyTo).toBeDefined();

      // Controller -> Agent, as an object.
      const downPayload = getRequestMsg("down-1");
      const downRecord: UspRecordObject = {
        version: "1.4",
        toId: r.agentId,
        fromId: r.controllerId,
        payloadSecurity: 0,
        macSignature: new Uint8Array(0),
        senderCert: new Uint8Array(0),
        recordType: { $case: "noSessionContext", value: { payload: downPayload } },
      };
      await sendFrom(r, "controller", downRecord);
      const down = await waitForPayload(r, "agent", downPayload, "Controller -> Agent Record");
      expect(down.fromId).toBe(r.controllerId);
      expect(bytesEqual(noSessionContextPayload(down.bytes) ?? new Uint8Array(0), downPayload)).toBe(true);
      expect(down.replyTo).toBeDefined();

      // The Agent answers on the return path it was given.
      const answerPayload = getRequestMsg("answer-1");
      await r.pair.agent.mtp.send(r.controllerId, recordFromTo(r, "agent", answerPayload), {
        ...r.pair.agent.sendOptions,
        replyTo: down.replyTo,
      });
      const answer = await waitForPayload(r, "controller", answerPayload, "answer on the return path");
      expect(answer.fromId).toBe(r.agentId);
    });

    for (const from of ["agent", "controller"] as const) {
      it(`delivers ${orderedCount} Records in order, ${from} to ${other(from)}`, async () => {
        const r = await start(`ordered-${from}`);
        const receiver = recorderOf(r, other(from));
        const base = receiver.records.length;
        const sends: Promise<void>[] = [];
        for (let i = 0; i < orderedCount; i++) {
          sends.push(sendFrom(r, from, recordFromTo(r, from, sequencedPayload(i, 64))));
        }
        await Promise.all(sends);
        await receiver.waitFor(
          `${orderedCount} Records`,
          () =>
            receiver.records.slice(base).filter((x) => x.record.recordType?.$case === "noSessionContext")
              .length >= orderedCount,
          waitMs * 3,
        );
        const seqs = receiver.records
          .slice(base)
          .flatMap((x) =>
            x.record.recordType?.$case === "noSessionContext" ? [x.record.recordType.value.payload] : [],
          )
          .map(payloadSequence);
        expect(seqs).toEqual(Array.from({ length: orderedCount }, (_, i) => i));
      });
    }

    it(`carries a ${largeBytes}-byte Record both ways`, async () => {
      const r = await start("large-record");
      for (const from of ["agent", "controller"] as const) {
        const bytes = recordOfSize({
          toId: from === "agent" ? r.controllerId : r.agentId,
          fromId: from === "agent" ? r.agentId : r.controllerId,
          totalBytes: largeBytes,
        });
        expect(bytes.length).toBe(largeBytes);
        await sendFrom(r, from, bytes);
        const payload = noSessionContextPayload(bytes);
        if (payload === undefined) throw new Error("unreachable");
        const got = await waitForPayload(
          r,
          other(from),
          payload,
          `the large Record ${from} -> ${other(from)}`,
        );
        expect(got.bytes.length).toBe(largeBytes);
      }
    });

    it("answers a decodable but invalid Record carrying a Request with an Error Record and keeps the connection (R-MTP.5)", async () => {
      const r = await start("invalid-record");
      const bad = outOfRangeEnumRecordBytes({
        toId: r.agentId,
        fromId: r.controllerId,
        payload: getRequestMsg("bad-1"),
      });
      await sendRaw(r, "agent", bad);
      const errorRecord = await r.controller.waitFor(
        "an Error Record answering msg_id bad-1",
        () =>
          r.controller.records.find((x) => {
            if (x.fromId !== r.agentId || x.record.recordType?.$case !== "noSessionContext") return false;
            return summarizeMsg(x.record.recordType.value.payload).msgId === "bad-1";
          }),
        waitMs,
      );
      expect(errorRecord.record.toId).toBe(r.controllerId);
      const payload =
        errorRecord.record.recordType?.$case === "noSessionContext"
          ? errorRecord.record.recordType.value.payload
          : undefined;
      const msg = summarizeMsg(payload ?? new Uint8Array(0));
      expect(msg.error?.errCode).toBeGreaterThanOrEqual(7100);
      expect(msg.error?.errCode).toBeLessThanOrEqual(7199);
      // The bad Record is not delivered as a Record, and the connection still works.
      expect(
        r.agent.records.some((x) => {
          const t = x.record.recordType;
          return t?.$case === "noSessionContext" && summarizeMsg(t.value.payload).msgId === "bad-1";
        }),
      ).toBe(false);
      const after = getRequestMsg("after-bad-1");
      await sendFrom(r, "controller", recordFromTo(r, "controller", after));
      await waitForPayload(r, "agent", after, "a valid Record after the invalid one");
      expect(connectRecordsFromAgent(r)).toBe(1);
    });

    const connectRecordsFromAgent = (r: RunningPair): number =>
      r.controller.records.filter(
        (x) => x.fromId === r.agentId && x.record.recordType?.$case === connectType(r),
      ).length;

    it(
      options.malformedClosesConnection === true
        ? "drops an unparseable Record, reports it, closes the connection and recovers (R-MTP.5, binding rule)"
        : "drops an unparseable Record, reports it and keeps the connection (R-MTP.5)",
      async () => {
        const r = await start("unparseable-record");
        const garbage = Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0x0f, 0x12, 0x34, 0x56, 0x78, 0x9a]);
        const agentErrors = r.agent.errors.length;
        await sendRaw(r, "agent", garbage).catch(() => undefined);
        const error = await r.agent.waitFor(
          "an error event for the unparseable Record",
          () => r.agent.errors.slice(agentErrors).find((e) => e.code === "ERR_MTP_MALFORMED_RECORD"),
          waitMs,
        );
        expect(error).toBeInstanceOf(Error);
        expect(r.agent.records.some((x) => bytesEqual(x.bytes, garbage))).toBe(false);
        if (options.malformedClosesConnection === true) await waitForConnectRecord(r, 2);
        const after = getRequestMsg("after-garbage-1");
        await sendFrom(r, "controller", recordFromTo(r, "controller", after));
        await waitForPayload(r, "agent", after, "a valid Record after the unparseable one");
        // No Error Record can be built for bytes that do not parse: nothing but Connect Records came back.
        expect(
          r.controller.records.filter(
            (x) => x.fromId === r.agentId && x.record.recordType?.$case !== connectType(r),
          ),
        ).toEqual([]);
        if (options.malformedClosesConnection !== true) expect(connectRecordsFromAgent(r)).toBe(1);
      },
    );

    it("does not deliver a Record addressed to another Endpoint ID", async () => {
      const r = await start("not-addressed-to-us");
      const stray = getRequestMsg("stray-1");
      await sendRaw(
        r,
        "agent",
        noSessionContextRecordBytes({
          toId: "proto::not-this-agent",
          fromId: r.controllerId,
          payload: stray,
        }),
      ).catch(() => undefined);
      const after = getRequestMsg("after-stray-1");
      await sendFrom(r, "controller", recordFromTo(r, "controller", after));
      await waitForPayload(r, "agent", after, "a valid Record after the stray one");
      expect(
        r.agent.records.some(
          (x) =>
            x.record.recordType?.$case === "noSessionContext" &&
            bytesEqual(x.record.recordType.value.payload, stray),
        ),
      ).toBe(false);
    });

    if (options.peerRestart !== false) {
      it("reconnects with back-off after the peer restarts and sends the Connect Record again (R-MTP.8)", async () => {
        const r = await start("peer-restart");
        if (r.pair.restartPeer === undefined)
          throw new Error("the factory must provide restartPeer() (or pass peerRestart: false)");
        const agentBefore = r.pair.agent.mtp;
        const controllerBefore = r.pair.controller.mtp;
        const keptRecorders = [r.agent, r.controller];
        await r.pair.restartPeer();
        // Re-attach to any Mtp the factory replaced.
        if (r.pair.agent.mtp !== agentBefore) {
          r.agent.detach();
          r.agent = new MtpRecorder(r.pair.agent.mtp);
        }
        if (r.pair.controller.mtp !== controllerBefore) {
          r.controller.detach();
          r.controller = new MtpRecorder(r.pair.controller.mtp);
        }
        const connectsBefore = r.pair.controller.mtp === controllerBefore ? 1 : 0;
        await waitForConnectRecord(r, connectsBefore + 1);
        // R-MTP.8: nothing but the Connect Record arrived from the Agent on the new channel before it.
        const fromAgent = r.controller.records.filter((x) => x.fromId === r.agentId);
        const newConnect = fromAgent.filter((x) => x.record.recordType?.$case === connectType(r))[
          connectsBefore
        ];
        expect(newConnect).toBeDefined();
        const down = getRequestMsg("after-restart-down");
        await sendFrom(r, "controller", recordFromTo(r, "controller", down));
        await waitForPayload(r, "agent", down, "Controller -> Agent after the restart");
        const up = getRequestMsg("after-restart-up");
        await sendFrom(r, "agent", recordFromTo(r, "agent", up));
        await waitForPayload(r, "controller", up, "Agent -> Controller after the restart");
        // Whoever was kept noticed the loss (state "reconnecting" or a peerDisconnected event).
        const kept = keptRecorders.filter((k) => k === r.agent || k === r.controller);
        expect(kept.length).toBeGreaterThan(0);
        expect(kept.some((k) => k.states.includes("reconnecting") || k.peersDisconnected.length > 0)).toBe(
          true,
        );
      });
    }

    it("closes gracefully: the Agent sends a DisconnectRecord, close() is idempotent, send() afterwards fails (R-MTP.7, R-MTP.9)", async () => {
      const r = await start("graceful-close");
      await r.pair.agent.mtp.close({ reason: "Session Context terminated", reasonCode: 7105 });
      const disconnect = await r.controller.waitFor(
        "a DisconnectRecord from the Agent",
        () =>
          r.controller.records.find(
            (x) => x.fromId === r.agentId && x.record.recordType?.$case === "disconnect",
          ),
        waitMs,
      );
      const value =
        disconnect.record.recordType?.$case === "disconnect" ? disconnect.record.recordType.value : undefined;
      expect(value?.reason).toBe("Session Context terminated");
      expect(value?.reasonCode).toBe(7105);
      expect(disconnect.record.toId).toBe(r.controllerId);
      expect(r.pair.agent.mtp.state).toBe("closed");
      expect(r.agent.states.at(-1)).toBe("closed");
      await r.pair.agent.mtp.close();
      await expect(
        sendFrom(r, "agent", recordFromTo(r, "agent", getRequestMsg("late-1"))),
      ).rejects.toMatchObject({
        code: expect.stringMatching(/^ERR_MTP_(CLOSED|NOT_OPEN)$/),
      });
      await r.pair.controller.mtp.close();
      expect(r.pair.controller.mtp.state).toBe("closed");
    });

    it("leaves no sockets, timers or processes behind", async () => {
      const tracker = trackResources();
      try {
        const r = await start("no-leaks");
        const ping = getRequestMsg("leak-1");
        await sendFrom(r, "agent", recordFromTo(r, "agent", ping));
        await waitForPayload(r, "controller", ping, "one Record before closing");
        running = undefined;
        r.agent.detach();
        r.controller.detach();
        await r.pair.agent.mtp.close();
        await r.pair.controller.mtp.close();
        await r.pair.teardown();
        const left = await tracker.settle(options.leakSettleMs ?? 5000);
        expect(left, "sockets, servers, processes or ref'ed timers still alive after teardown").toEqual([]);
      } finally {
        tracker.stop();
      }
    });
  }
  return cases;
}
