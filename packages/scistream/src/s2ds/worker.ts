/** Worker-thread entry of the S2DS: hosts channels on behalf of a WorkerPoolHost. */
import { setDefaultHighWaterMark } from "node:stream";
import { parentPort } from "node:worker_threads";
import { InProcessHost, type WorkerReply, type WorkerRequest } from "./host.js";

// This thread only relays bytes: bigger stream buffers mean fewer pause/resume cycles per MB.
setDefaultHighWaterMark(false, 256 * 1024);

const host = new InProcessHost();
const port = parentPort;
if (port === null) throw new Error("worker.ts must run in a worker thread");

port.on("message", (request: WorkerRequest) => {
  void handle(request).then((reply) => port.postMessage(reply));
});

async function handle(request: WorkerRequest): Promise<WorkerReply> {
  try {
    switch (request.op) {
      case "open":
        return { seq: request.seq, ok: true, port: await host.open(request.spec) };
      case "target":
        await host.setTarget(request.id, request.target);
        return { seq: request.seq, ok: true };
      case "close":
        await host.close(request.id);
        return { seq: request.seq, ok: true };
      case "stats":
        return { seq: request.seq, ok: true, stats: await host.stats() };
    }
  } catch (err) {
    const e = err as Error & { syscallCode?: string };
    const code = e.syscallCode;
    return { seq: request.seq, ok: false, error: e.message, ...(code === undefined ? {} : { code }) };
  }
}
