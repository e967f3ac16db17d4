/** Records every event of one MTP so tests can wait for, and assert on, what happened. */
import type { Mtp, MtpError, MtpState, PeerInfo, ReceivedRecord } from "@x/usp-record/mtp";

export class MtpRecorder {
  readonly records: ReceivedRecord[] = [];
  readonly states: MtpState[] = [];
  readonly errors: MtpError[] = [];
  readonly peersConnected: PeerInfo[] = [];
  readonly peersDisconnected: { peer: PeerInfo; reason: MtpError | undefined }[] = [];
  private readonly waiters = new Map<() => void, (reason: Error) => void>();
  private readonly detachers: (() => void)[] = [];

  constructor(readonly mtp: Mtp) {
    const onRecord = (r: ReceivedRecord): void => {
      this.records.push(r);
      this.notify();
    };
    const onState = (s: MtpState): void => {
      this.states.push(s);
      this.notify();
    };
    const onError = (e: MtpError): void => {
      this.errors.push(e);
      this.notify();
    };
    const onPeerConnected = (p: PeerInfo): void => {
      this.peersConnected.push(p);
      this.notify();
    };
    const onPeerDisconnected = (peer: PeerInfo, reason: MtpError | undefined): void => {
      this.peersDisconnected.push({ peer, reason });
      this.notify();
    };
    mtp.on("record", onRecord);
    mtp.on("state", onState);
    mtp.on("error", onError);
    mtp.on("peerConnected", onPeerConnected);
    mtp.on("peerDisconnected", onPeerDisconnected);
    this.detachers.push(
      () => mtp.off("record", onRecord),
      () => mtp.off("state", onState),
      () => mtp.off("error", onError),
      () => mtp.off("peerConnected", onPeerConnected),
      () => mtp.off("peerDisconnected", onPeerDisconnected),
    );
  }

  /** Records whose `record_type` is `$case`. */
  recordsOfType(kind: string): ReceivedRecord[] {
    return this.records.filter((r) => r.record.recordType?.$case === kind);
  }

  /** Resolves once `predicate` holds; rejects with `what` after `timeoutMs`. */
  waitFor<T>(what: string, predicate: () => T | undefined | false, timeoutMs: number): Promise<T> {
    const first = predicate();
    if (first !== undefined && first !== false) return Promise.resolve(first);
    return new Promise<T>((resolve, reject) => {
      const check = (): void => {
        const value = predicate();
        if (value !== undefined && value !== false) {
          cleanup();
          resolve(value);
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(
          new Error(
            `timed out after ${timeoutMs} ms waiting for ${what} (${this.mtp.role}: ${this.records.length} records, states ${this.states.join(",")}, errors ${this.errors.map((e) => e.code).join(",")})`,
          ),
        );
      }, timeoutMs);
      const cleanup = (): void => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.set(check, (reason) => {
        cleanup();
        reject(reason);
      });
    });
  }

  detach(): void {
    for (const d of this.detachers) d();
    this.detachers.length = 0;
    for (const cancel of [...this.waiters.values()]) cancel(new Error("recorder detached"));
  }

  private notify(): void {
    for (const check of [...this.waiters.keys()]) check();
  }
}
