/**
 * An in-memory reference MTP, used only to test the compliance suite itself: a correct one must
 * pass every case, and each deliberately broken variant must fail the case that targets its flaw.
 */
import { EventEmitter } from "node:events";
import type { MtpPair, PairContext } from "@x/mtp-compliance";
import {
  decodeRecord,
  disconnectRecord,
  encodeRecord,
  errorRecordFor,
  type RecordError,
  type UspRecord,
  webSocketConnectRecord,
} from "@x/usp-record";
import {
  type CloseOptions,
  type Mtp,
  MtpError,
  type MtpEvents,
  type MtpState,
  type SendOptions,
  type UspRole,
} from "@x/usp-record/mtp";

export interface Flaws {
  readonly skipConnectRecord?: boolean;
  readonly reorder?: boolean;
  readonly noDisconnectRecord?: boolean;
  readonly deliverForeign?: boolean;
  readonly leakTimer?: boolean;
  readonly noErrorRecord?: boolean;
}

class Hub {
  readonly endpoints = new Map<string, LoopbackMtp>();
}

export class LoopbackMtp extends EventEmitter<MtpEvents> implements Mtp {
  readonly kind = "loopback";
  private current: MtpState = "idle";
  private peer: LoopbackMtp | undefined;
  private leaked: ReturnType<typeof setInterval> | undefined;
  private pending = 0;

  constructor(
    private readonly hub: Hub,
    readonly role: UspRole,
    readonly localEndpointId: string,
    private readonly peerId: string,
    private readonly flaws: Flaws,
  ) {
    super();
  }

  get state(): MtpState {
    return this.current;
  }

  private setState(s: MtpState): void {
    this.current = s;
    this.emit("state", s);
  }

  async open(): Promise<void> {
    this.setState("open");
    this.hub.endpoints.set(this.localEndpointId, this);
    if (this.flaws.leakTimer === true) this.leaked = setInterval(() => undefined, 10_000);
    const peer = this.hub.endpoints.get(this.peerId);
    if (peer !== undefined && peer.current !== "closed") {
      peer.link(this);
      this.link(peer);
    }
  }

  link(peer: LoopbackMtp): void {
    this.peer = peer;
    if (this.current === "reconnecting") this.setState("open");
    if (this.role === "agent" && this.flaws.skipConnectRecord !== true) {
      this.deliver(encodeRecord(webSocketConnectRecord({ toId: this.peerId, fromId: this.localEndpointId })));
    }
    this.emit("peerConnected", { endpointId: peer.localEndpointId, returnPath: { mtp: "loopback" } });
  }

  unlink(): void {
    const peer = this.peer;
    this.peer = undefined;
    if (this.current === "open") this.setState("reconnecting");
    this.emit("peerDisconnected", { endpointId: peer?.localEndpointId, returnPath: undefined }, undefined);
  }

  private deliver(bytes: Uint8Array): void {
    const peer = this.peer;
    if (peer === undefined) throw new MtpError("ERR_MTP_NO_ROUTE", "no peer");
    const copy = Uint8Array.from(bytes);
    if (this.flaws.reorder === true) {
      this.pending++;
      const t = setTimeout(() => peer.receive(copy), this.pending % 3);
      t.unref();
    } else setImmediate(() => peer.receive(copy));
  }

  async send(toId: string, record: Uint8Array | UspRecord, _options?: SendOptions): Promise<void> {
    if (this.current === "idle") throw new MtpError("ERR_MTP_NOT_OPEN", "not open");
    if (this.current === "closed" || this.current === "closing")
      throw new MtpError("ERR_MTP_CLOSED", "closed");
    if (toId !== this.peerId) throw new MtpError("ERR_MTP_NO_ROUTE", `no route to ${toId}`);
    this.deliver(record instanceof Uint8Array ? record : encodeRecord(record));
  }

  receive(bytes: Uint8Array): void {
    if (this.current === "closed") return;
    let record: UspRecord;
    try {
      record = decodeRecord(bytes);
    } catch (error) {
      this.emit(
        "error",
        new MtpError("ERR_MTP_MALFORMED_RECORD", "bad Record", {
          cause: error,
          protocolCode: (error as RecordError).uspCode,
        }),
      );
      const answer =
        this.flaws.noErrorRecord === true ? undefined : errorRecordFor(bytes, this.localEndpointId);
      if (answer !== undefined) this.deliver(answer);
      return;
    }
    if (record.toId !== this.localEndpointId && this.flaws.deliverForeign !== true) return;
    this.emit("record", { bytes, record, fromId: record.fromId, replyTo: { mtp: "loopback" } });
  }

  async close(options: CloseOptions = {}): Promise<void> {
    if (this.current === "closed") return;
    if (
      this.role === "agent" &&
      options.abrupt !== true &&
      this.peer !== undefined &&
      this.flaws.noDisconnectRecord !== true
    ) {
      this.deliver(
        encodeRecord(
          disconnectRecord({
            toId: this.peerId,
            fromId: this.localEndpointId,
            reason: options.reason,
            reasonCode: options.reasonCode,
          }),
        ),
      );
    }
    this.setState("closed");
    if (this.hub.endpoints.get(this.localEndpointId) === this)
      this.hub.endpoints.delete(this.localEndpointId);
    this.peer?.unlink();
    this.peer = undefined;
    if (this.leaked !== undefined && this.flaws.leakTimer !== true) clearInterval(this.leaked);
  }
}

export async function loopbackPair(ctx: PairContext, flaws: Flaws = {}): Promise<MtpPair> {
  const hub = new Hub();
  const agentId = `proto::loop-agent-${ctx.index}`;
  const controllerId = `proto::loop-controller-${ctx.index}`;
  const agent = new LoopbackMtp(hub, "agent", agentId, controllerId, flaws);
  let controller = new LoopbackMtp(hub, "controller", controllerId, agentId, {});
  return {
    agent: { mtp: agent, endpointId: agentId },
    get controller() {
      return { mtp: controller, endpointId: controllerId };
    },
    async restartPeer() {
      await controller.close({ abrupt: true });
      controller = new LoopbackMtp(hub, "controller", controllerId, agentId, {});
      await controller.open();
    },
    async teardown() {
      await agent.close({ abrupt: true });
      await controller.close({ abrupt: true });
    },
  };
}
