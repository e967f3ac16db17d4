/**
 * The captured forward exchange of sttp.md §2.16 (Node client ↔ cppapi publisher), reproduced both ways:
 * our subscriber against a peer replaying the publisher's frame layouts, and our publisher against a
 * peer replaying the subscriber's exact command frames.
 */
import * as net from "node:net";
import { gzipSync } from "node:zlib";
import { afterEach, describe, expect, it } from "vitest";
import {
  encodeResponse,
  encodeSignalIndexCache,
  type Measurement,
  Publisher,
  SignalIndexCache,
  Subscriber,
} from "../src/index.js";
import { definitions, waitForEvent } from "./helpers.js";

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ""), "hex");
const open: { close(): Promise<void> | void }[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((o) => o.close()));
});

/** Splits a byte stream into size-prefixed frames (whole frames, prefix included). */
function frames(stream: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let o = 0;
  while (o + 4 <= stream.length) {
    const size = stream.readUInt32BE(o);
    if (o + 4 + size > stream.length) break;
    out.push(stream.subarray(o, o + 4 + size));
    o += 4 + size;
  }
  return out;
}

const defs = definitions(14);
const TICKS = 639_000_000_000_000_000n;

describe("captured forward exchange (sttp.md §2.16)", () => {
  it("our subscriber emits exactly the captured command frames and decodes the publisher's layouts", async () => {
    const received: Buffer[] = [];
    let stream = Buffer.alloc(0);
    const sockets: net.Socket[] = [];
    const server = net.createServer((socket) => {
      sockets.push(socket);
      socket.on("data", (chunk) => {
        stream = Buffer.concat([stream, chunk]);
        for (const f of frames(stream)) {
          stream = stream.subarray(f.length);
          received.push(f);
          const code = f[4];
          if (code === 0x06) {
            // size 78: 80 06 00 00 00 48 + 72 bytes of text
            const text = Buffer.from(
              "STTP v2 client connection accepted: 127.0.0.1 (replayed capture frames)".padEnd(72, "."),
              "utf8",
            );
            socket.write(encodeResponse(0x80, 0x06, text));
          } else if (code === 0x01) {
            socket.write(
              encodeResponse(
                0x80,
                0x01,
                gzipSync(
                  Buffer.from("<DataSet><MeasurementDetail><ID>PPA:1</ID></MeasurementDetail></DataSet>"),
                ),
              ),
            );
          } else if (code === 0x02) {
            const cache = new SignalIndexCache("0f5d6d0e-4c5a-4f0e-9a51-2f6a8d1c2b3a", [
              { runtimeIndex: 0, signalId: defs[0]?.signalId as string, source: "PPA", id: 1n },
              { runtimeIndex: 1, signalId: defs[1]?.signalId as string, source: "PPA", id: 2n },
            ]);
            socket.write(
              encodeResponse(
                0x83,
                0x02,
                Buffer.concat([Buffer.from([0]), gzipSync(encodeSignalIndexCache(cache))]),
              ),
            );
          } else if (code === 0x0a) {
            socket.write(
              encodeResponse(
                0x80,
                0x02,
                Buffer.from("Client subscribed using compact format over TCP with 2 signals."),
              ),
            );
            const start = Buffer.alloc(8);
            start.writeBigInt64BE(TICKS);
            socket.write(encodeResponse(0x86, 0x02, start));
            // 2 × [flags][int32 runtimeIndex][float32][int64 ticks]
            const packet = Buffer.alloc(5 + 2 * 17);
            packet[0] = 0x02;
            packet.writeUInt32BE(2, 1);
            for (let i = 0; i < 2; i++) {
              const o = 5 + i * 17;
              packet[o] = 0;
              packet.writeInt32BE(i, o + 1);
              packet.writeFloatBE(59.95 + i, o + 5);
              packet.writeBigInt64BE(TICKS + BigInt(i), o + 9);
            }
            const frame = encodeResponse(0x82, 0x02, packet);
            expect(frame.readUInt32BE(0)).toBe(45);
            socket.write(frame);
            socket.write(hex("00000006 ff02 00000000"));
          }
        }
      });
    });
    open.push({
      close: () =>
        new Promise<void>((r) => {
          for (const s of sockets) s.destroy();
          server.close(() => r());
        }),
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const { port } = server.address() as net.AddressInfo;

    const subscriber = new Subscriber({
      compressPayload: false,
      dataLossIntervalMs: 0,
      reconnect: { maxRetries: 0 },
    });
    open.push(subscriber);
    const handshake = waitForEvent<[{ accepted: boolean; message: string }]>(subscriber, "handshake");
    await subscriber.connect({ host: "127.0.0.1", port });
    expect((await handshake)[0].accepted).toBe(true);
    const xml = await subscriber.requestMetadata();
    expect(xml).toContain("PPA:1");
    const measurements = waitForEvent<[Measurement[]]>(subscriber, "measurements");
    const start = waitForEvent<[bigint]>(subscriber, "dataStartTime");
    const info = await subscriber.subscribe({ filterExpression: "PPA:1;PPA:2" });
    expect(info?.message).toBe("Client subscribed using compact format over TCP with 2 signals.");
    expect((await start)[0]).toBe(TICKS);
    const [ms] = await measurements;
    expect(ms.map((m) => [m.signalId, m.value, m.timestamp])).toEqual([
      [defs[0]?.signalId, Math.fround(59.95), TICKS],
      [defs[1]?.signalId, Math.fround(60.95), TICKS + 1n],
    ]);

    // The command frames, byte for byte.
    expect(received[0]).toEqual(hex("00000005 06 c0000222"));
    expect(received[1]).toEqual(hex("00000001 01"));
    const subscribe = received[2] as Buffer;
    const n = subscribe.readUInt32BE(6);
    expect(subscribe.subarray(0, 6)).toEqual(
      Buffer.concat([hex(`${(6 + n).toString(16).padStart(8, "0")}`), hex("02 02")]),
    );
    expect(subscribe.length).toBe(10 + n);
    const connectionString = subscribe.toString("utf8", 10);
    expect(connectionString.startsWith("includeTime=true;")).toBe(true);
    expect(connectionString).toContain("filterExpression={PPA:1;PPA:2}");
    expect(received[3]).toEqual(hex("00000001 0a"));
    expect(received).toHaveLength(4);
  });

  it("our publisher answers the captured command frames with the captured response layouts", async () => {
    const publisher = new Publisher({ measurements: defs, noOpIntervalMs: 300 });
    open.push(publisher);
    const { port } = await publisher.listen({ host: "127.0.0.1", port: 0 });
    const socket = net.connect({ host: "127.0.0.1", port });
    open.push({ close: () => void socket.destroy() });
    let stream = Buffer.alloc(0);
    const got: Buffer[] = [];
    const noOps: Buffer[] = [];
    let wantNoOp = false;
    let notify: (() => void) | undefined;
    socket.on("data", (chunk) => {
      stream = Buffer.concat([stream, chunk]);
      for (const f of frames(stream)) {
        stream = stream.subarray(f.length);
        // NoOPs come every 300 ms and may fall between any two frames: keep them apart.
        if (f[4] === 0xff) noOps.push(f);
        else got.push(f);
      }
      notify?.();
    });
    const until = (count: number) =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`only ${got.length} of ${count} frames`)), 15_000);
        notify = () => {
          if (got.length >= count && (!wantNoOp || noOps.length > 0)) {
            clearTimeout(timer);
            resolve();
          }
        };
        notify();
      });
    await new Promise<void>((r) => socket.once("connect", () => r()));

    socket.write(hex("00000005 06 c0000222"));
    await until(1);
    const accepted = got[0] as Buffer;
    expect(accepted.subarray(4, 6)).toEqual(hex("80 06"));
    expect(accepted.readUInt32BE(6)).toBe(accepted.readUInt32BE(0) - 6);
    expect(accepted.toString("utf8", 10)).toMatch(/^STTP v2 client connection accepted: /);

    socket.write(hex("00000001 01"));
    await until(2);
    const metadata = got[1] as Buffer;
    expect(metadata.subarray(4, 6)).toEqual(hex("80 01"));
    expect(metadata.readUInt32BE(6)).toBe(metadata.length - 10);
    expect(metadata.subarray(10, 13)).toEqual(hex("1f 8b 08"));

    // A 140-byte connection string, as in the capture: 00 00 00 92 02 02 00 00 00 8c.
    const text =
      "includeTime=true;processingInterval=-1;useMillisecondResolution=false;filterExpression={PPA:1;PPA:2}";
    const connectionString = `${text};lagTime=10;leadTime=5;publishInterval=1`.padEnd(140, ";");
    expect(connectionString).toHaveLength(140);
    socket.write(Buffer.concat([hex("00000092 02 02 0000008c"), Buffer.from(connectionString)]));
    await until(3);
    const sic = got[2] as Buffer;
    expect(sic.subarray(4, 6)).toEqual(hex("83 02"));
    expect(sic.readUInt32BE(6)).toBe(sic.length - 10);
    expect(sic[10]).toBe(0); // cacheIndex 0
    expect(sic.subarray(11, 13)).toEqual(hex("1f 8b"));

    socket.write(hex("00000001 0a"));
    await until(4);
    const subscribed = got[3] as Buffer;
    expect(subscribed.readUInt32BE(0)).toBe(69);
    expect(subscribed.subarray(4, 10)).toEqual(hex("80 02 0000003f"));
    expect(subscribed.toString("utf8", 10)).toBe(
      "Client subscribed using compact format over TCP with 2 signals.",
    );

    const t = 638_000_000_000_000_000n;
    publisher.publish(
      defs.slice(0, 3).map((d, i) => ({ signalId: d.signalId, value: i, timestamp: t, flags: 0 })),
    );
    await until(6);
    const start = got[4] as Buffer;
    expect(start.subarray(0, 10)).toEqual(hex("0000000e 86 02 00000008"));
    expect(start.readBigInt64BE(10)).toBe(t);
    const data = got[5] as Buffer;
    expect(data.subarray(0, 15)).toEqual(hex("0000002d 82 02 00000027 02 00000002"));
    expect(data.readBigInt64BE(15 + 9)).toBe(t);
    expect(data.readInt32BE(15 + 17 + 1)).toBe(1);

    wantNoOp = true;
    await until(6);
    expect(noOps[0]).toEqual(hex("00000006 ff 02 00000000"));
  });
});
