/**
 * Real Apache ActiveMQ 5.17 (STOMP 1.2) on loopback (usp.md §13.3). Runs the broker's own jar with
 * the JVM directly (not Debian's wrapper, which switches to user "activemq" and keeps a 512 MiB heap),
 * non-persistent, one scratch directory per instance. Ready in a few seconds.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type RunningBroker, requireExecutable, scratchDir, supervise } from "./common.js";
import { freePort, startProcess, waitForPort } from "./process.js";

export interface ActiveMqOptions {
  /** Readiness timeout, ms (default 60 s). */
  readonly startTimeoutMs?: number;
  /** Maximum frame size in bytes (default 64 MiB, so a 4 MiB Record passes). */
  readonly maxFrameSize?: number;
}

export interface RunningActiveMq extends RunningBroker {
  readonly stompPort: number;
}

const JAR = "/usr/share/activemq/bin/activemq.jar";
const JAVA = "/usr/bin/java";

export async function startActiveMq(options: ActiveMqOptions = {}): Promise<RunningActiveMq> {
  requireExecutable(JAR, "activemq");
  requireExecutable(JAVA, "activemq");
  const dir = scratchDir("activemq");
  for (const sub of ["conf", "data", "tmp"]) mkdirSync(join(dir, sub));
  const stompPort = await freePort();
  const maxFrame = options.maxFrameSize ?? 64 * 1024 * 1024;
  writeFileSync(
    join(dir, "conf", "activemq.xml"),
    `<beans xmlns="http://www.springframework.org/schema/beans"
       xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
       xsi:schemaLocation="http://www.springframework.org/schema/beans http://www.springframework.org/schema/beans/spring-beans.xsd
                           http://activemq.apache.org/schema/core http://activemq.apache.org/schema/core/activemq-core.xsd">
  <broker xmlns="http://activemq.apache.org/schema/core" useJmx="false" persistent="false"
          brokerName="xtest" dataDirectory="${join(dir, "data")}">
    <transportConnectors>
      <transportConnector name="stomp" uri="stomp://127.0.0.1:${stompPort}?transport.transformer=none&amp;wireFormat.maxFrameSize=${maxFrame}"/>
    </transportConnectors>
  </broker>
</beans>
`,
  );
  writeFileSync(join(dir, "conf", "log4j2.properties"), "rootLogger.level = warn\n");
  const logFile = join(dir, "broker.log");
  const args = [
    "-Xms64m",
    "-Xmx384m",
    `-Djava.io.tmpdir=${join(dir, "tmp")}`,
    "-Dactivemq.home=/usr/share/activemq",
    `-Dactivemq.base=${dir}`,
    `-Dactivemq.conf=${join(dir, "conf")}`,
    `-Dactivemq.data=${join(dir, "data")}`,
    "-jar",
    JAR,
    "start",
    `xbean:file:${join(dir, "conf", "activemq.xml")}`,
  ];
  const broker = await supervise({
    dir,
    logFile,
    start: async () => startProcess(JAVA, args, { cwd: dir, logFile }),
    ready: (p) => waitForPort("127.0.0.1", stompPort, options.startTimeoutMs ?? 60_000, () => p.alive()),
  });
  return Object.defineProperty(broker, "stompPort", {
    value: stompPort,
    enumerable: true,
  }) as RunningActiveMq;
}
