/**
 * One S2DS channel: a listener on one port and the relay of every connection it accepts to one
 * target. "inbound" (producer facility) terminates TLS-PSK and connects in plain TCP to the
 * producer application; "outbound" (consumer facility) accepts plain TCP from the consumer
 * application and connects with TLS-PSK to the producer facility's inbound channel.
 * This module runs in the main thread or inside a worker (see worker.ts); its spec is plain data.
 */
import net from "node:net";
import tls from "node:tls";
import { CIPHER_PROFILES, type CipherProfile, type CipherProfileName } from "./profiles.js";
import { ThrottleStream, TokenBucket } from "./throttle.js";

export type ChannelDirection = "inbound" | "outbound";
export type ChannelTransport = "tls-psk" | "tcp";

/** Serializable description of a channel (it crosses the worker boundary). */
export interface ChannelSpec {
  readonly id: string;
  readonly direction: ChannelDirection;
  readonly transport: ChannelTransport;
  readonly profile: CipherProfileName;
  /** The session UID; the PSK and identity are derived from it by the profile. */
  readonly uid: string;
  readonly bindHost: string;
  /** 0 = any free port. */
  readonly port: number;
  /** Bytes per second for this channel, both directions together; 0 = unlimited. */
  readonly rateBytesPerSecond: number;
  readonly handshakeTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly connectTimeoutMs: number;
  readonly maxConnections: number;
}

export interface ChannelTarget {
  readonly host: string;
  readonly port: number;
}

export interface ChannelStats {
  readonly id: string;
  /** Bytes received from the side that connected to this channel's listener. */
  readonly bytesIn: number;
  /** Bytes written back to that side. */
  readonly bytesOut: number;
  readonly connectionsAccepted: number;
  readonly connectionsActive: number;
  /** Connections dropped before relaying: no target yet, connection limit, upstream connect failure. */
  readonly connectionsRefused: number;
  /** TLS handshake failures by OpenSSL error code (wrong key, unknown identity, no shared cipher...). */
  readonly handshakeFailures: Readonly<Record<string, number>>;
  /** Throughput of the channel since it opened, bytes per second (both directions). */
  readonly bytesPerSecond: number;
}

interface Pair {
  readonly front: net.Socket;
  back: net.Socket | undefined;
}

/** Listener + relay for one channel. */
export class ChannelRelay {
  private server: net.Server | undefined;
  private target: ChannelTarget | undefined;
  private readonly pairs = new Set<Pair>();
  /** Every accepted TCP connection, including TLS handshakes still in progress. */
  private readonly raw = new Set<net.Socket>();
  private readonly profile: CipherProfile;
  private readonly psk: Buffer;
  private readonly identity: string;
  private readonly bucket: TokenBucket | undefined;
  private readonly openedAt = performance.now();
  private closedBytesIn = 0;
  private closedBytesOut = 0;
  private accepted = 0;
  private refused = 0;
  private readonly failures: Record<string, number> = {};
  private closing = false;

  constructor(readonly spec: ChannelSpec) {
    this.profile = CIPHER_PROFILES[spec.profile];
    this.psk = this.profile.psk(spec.uid);
    this.identity = this.profile.identity(spec.uid);
    this.bucket = spec.rateBytesPerSecond > 0 ? new TokenBucket(spec.rateBytesPerSecond) : undefined;
  }

  private tlsCipherOptions(): {
    ciphers: string;
    minVersion: tls.SecureVersion;
    maxVersion: tls.SecureVersion;
  } {
    const p = this.profile;
    return {
      ciphers: p.ciphersuites === undefined ? p.ciphers : `${p.ciphersuites}:${p.ciphers}`,
      minVersion: p.minVersion,
      maxVersion: p.maxVersion,
    };
  }

  /** Binds the listener and returns the bound port. */
  async listen(): Promise<number> {
    const server = this.createServer();
    this.server = server;
    server.maxConnections = this.spec.maxConnections;
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      server.once("error", onError);
      server.listen({ host: this.spec.bindHost, port: this.spec.port, exclusive: true }, () => {
        server.off("error", onError);
        resolve();
      });
    });
    server.on("error", () => {
      // A listener error after bind (rare: EMFILE on accept) must not crash the process.
    });
    server.on("connection", (socket: net.Socket) => {
      this.raw.add(socket);
      socket.once("close", () => this.raw.delete(socket));
    });
    return (server.address() as net.AddressInfo).port;
  }

  private createServer(): net.Server {
    if (this.spec.direction === "inbound" && this.spec.transport === "tls-psk") {
      // TLS is layered by hand over a net.Server rather than with tls.createServer: relays need
      // allowHalfOpen, and tls.Server then leaves a socket whose peer sent FIN mid-handshake
      // open (and counted against maxConnections) until the handshake timeout.
      const secureContext = tls.createSecureContext(this.tlsCipherOptions());
      const expected = this.identity;
      const psk = this.psk;
      return net.createServer({ allowHalfOpen: true, noDelay: true }, (raw) => {
        const socket = new tls.TLSSocket(raw, {
          isServer: true,
          secureContext,
          allowHalfOpen: true,
          // Returning null refuses the identity: the handshake fails with unknown_psk_identity.
          pskCallback: (_socket: tls.TLSSocket, identity: string) => (identity === expected ? psk : null),
        } as tls.TLSSocketOptions & { allowHalfOpen: boolean });
        this.raw.add(socket);
        let secured = false;
        const fail = (code: string) => {
          if (secured) return;
          secured = true;
          clearTimeout(timer);
          this.countFailure({ code } as NodeJS.ErrnoException);
          socket.destroy();
          raw.destroy();
        };
        const timer = setTimeout(() => fail("ERR_TLS_HANDSHAKE_TIMEOUT"), this.spec.handshakeTimeoutMs);
        socket.once("secure", () => {
          if (secured) return;
          secured = true;
          clearTimeout(timer);
          this.onFront(socket);
        });
        socket.on("error", (err: NodeJS.ErrnoException) => fail(err.code ?? "ERR_TLS"));
        socket.once("end", () => fail("ECONNRESET"));
        socket.once("close", () => {
          clearTimeout(timer);
          this.raw.delete(socket);
          if (!secured) fail("ECONNRESET");
        });
      });
    }
    return net.createServer({ allowHalfOpen: true, noDelay: true }, (socket) => this.onFront(socket));
  }

  private countFailure(err: NodeJS.ErrnoException): void {
    const code = err.code ?? "ERR_UNKNOWN";
    this.failures[code] = (this.failures[code] ?? 0) + 1;
  }

  setTarget(target: ChannelTarget): void {
    this.target = target;
  }

  private onFront(front: net.Socket): void {
    this.accepted++;
    front.on("error", () => {});
    const target = this.target;
    if (target === undefined || this.closing) {
      this.refused++;
      front.destroy();
      return;
    }
    const pair: Pair = { front, back: undefined };
    this.pairs.add(pair);
    front.pause();
    const back = this.connectBack(target);
    pair.back = back;
    back.on("error", (err: NodeJS.ErrnoException) => {
      if (!connected) {
        this.refused++;
        if (this.spec.transport === "tls-psk" && this.spec.direction === "outbound") this.countFailure(err);
      }
      front.destroy();
      back.destroy();
    });
    let connected = false;
    const connectTimer = setTimeout(() => {
      if (!connected) back.destroy(new Error("connect timeout"));
    }, this.spec.connectTimeoutMs);
    const ready =
      this.spec.direction === "outbound" && this.spec.transport === "tls-psk" ? "secureConnect" : "connect";
    back.once(ready, () => {
      connected = true;
      clearTimeout(connectTimer);
      this.splice(front, back);
      front.resume();
    });
    const finish = () => {
      clearTimeout(connectTimer);
      if (!this.pairs.delete(pair)) return;
      this.closedBytesIn += front.bytesRead;
      this.closedBytesOut += front.bytesWritten;
    };
    front.once("close", () => {
      if (!connected) back.destroy();
      finish();
    });
    back.once("close", () => {
      if (!connected) front.destroy();
    });
  }

  private connectBack(target: ChannelTarget): net.Socket {
    if (this.spec.direction === "outbound" && this.spec.transport === "tls-psk") {
      const psk = this.psk;
      const identity = this.identity;
      return tls.connect({
        host: target.host,
        port: target.port,
        ...this.tlsCipherOptions(),
        allowHalfOpen: true,
        noDelay: true,
        pskCallback: () => ({ psk, identity }),
        // PSK authenticates the peer; there is no certificate to check.
        checkServerIdentity: () => undefined,
      } as tls.ConnectionOptions);
    }
    return net.connect({ host: target.host, port: target.port, allowHalfOpen: true, noDelay: true });
  }

  /** Relays both directions with back-pressure, half-close and an idle timeout. */
  private splice(a: net.Socket, b: net.Socket): void {
    const bucket = this.bucket;
    if (bucket === undefined) {
      forward(a, b);
      forward(b, a);
    } else {
      const up = new ThrottleStream(bucket);
      const down = new ThrottleStream(bucket);
      a.pipe(up).pipe(b);
      b.pipe(down).pipe(a);
      const kill = () => {
        up.destroy();
        down.destroy();
      };
      a.once("close", kill);
      b.once("close", kill);
    }
    const destroyBoth = () => {
      a.destroy();
      b.destroy();
    };
    if (this.spec.idleTimeoutMs > 0) {
      a.setTimeout(this.spec.idleTimeoutMs, destroyBoth);
      b.setTimeout(this.spec.idleTimeoutMs, destroyBoth);
    }
    // A side that goes away without a clean end (reset, local destroy) takes the other with it;
    // a clean end was already forwarded by pipe() as a half-close.
    a.once("close", (hadError) => {
      if (hadError || !a.readableEnded) b.destroy();
    });
    b.once("close", (hadError) => {
      if (hadError || !b.readableEnded) a.destroy();
    });
  }

  stats(): ChannelStats {
    let bytesIn = this.closedBytesIn;
    let bytesOut = this.closedBytesOut;
    for (const { front } of this.pairs) {
      bytesIn += front.bytesRead;
      bytesOut += front.bytesWritten;
    }
    const seconds = Math.max((performance.now() - this.openedAt) / 1000, 1e-3);
    return {
      id: this.spec.id,
      bytesIn,
      bytesOut,
      connectionsAccepted: this.accepted,
      connectionsActive: this.pairs.size,
      connectionsRefused: this.refused,
      handshakeFailures: { ...this.failures },
      bytesPerSecond: (bytesIn + bytesOut) / seconds,
    };
  }

  /** Stops listening and destroys every relayed connection. Safe to call twice. */
  async close(): Promise<void> {
    this.closing = true;
    const server = this.server;
    this.server = undefined;
    // Stop accepting first, then destroy everything, handshakes in progress included. The close
    // callback is not awaited: a TLS server can keep counting a connection whose peer vanished
    // mid-handshake, and its callback would then never come.
    server?.close();
    for (const { front, back } of this.pairs) {
      front.destroy();
      back?.destroy();
    }
    for (const socket of this.raw) socket.destroy();
    this.raw.clear();
    // Let libuv run the handle close callbacks so the port is free when this resolves.
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

/**
 * Copies src to dst like `pipe()`: back-pressure (pause until 'drain'), end -> half-close.
 *
 * Each chunk is written as it arrives, without corking. Node drains the nextTick queue after every
 * 'data' callback (every 16 KiB TLS record and every socket read is its own native callback), so
 * a cork released on nextTick never held more than one chunk (strace: one write() per record,
 * no writev): it only cost a cork/uncork/tick per record. Releasing the cork on setImmediate does
 * batch records into one writev, but measured no better: more user-space instructions per MiB,
 * and a TLS socket copies a writev batch into one buffer before encrypting it.
 */
function forward(src: net.Socket, dst: net.Socket): void {
  const resume = () => src.resume();
  src.on("data", (chunk: Buffer) => {
    if (!dst.write(chunk)) {
      src.pause();
      dst.once("drain", resume);
    }
  });
  src.once("end", () => dst.end());
}
