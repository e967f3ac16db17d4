/**
 * Real Apache ActiveMQ 5.17 (STOMP 1.2) on loopback (usp.md §13.3). Runs the broker's own jar with
 * the JVM directly (not Debian's wrapper, which switches to user "activemq" and keeps a 512 MiB heap),
 * non-persistent, one scratch directory per instance. Ready in a few seconds.
 */
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  type BrokerTls,
  type RunningBroker,
  removeDir,
  requireExecutable,
  scratchDir,
  supervise,
} from "./common.js";
import { BrokerError, freePort, startProcess, waitForPort } from "./process.js";

export interface ActiveMqOptions {
  /** Readiness timeout, ms (default 60 s). */
  readonly startTimeoutMs?: number;
  /** Maximum frame size in bytes (default 64 MiB, so a 4 MiB Record passes). */
  readonly maxFrameSize?: number;
  /** Also a STOMP over TLS listener (`stomp+ssl`). */
  readonly tls?: BrokerTls;
}

export interface RunningActiveMq extends RunningBroker {
  readonly stompPort: number;
  /** The STOMP over TLS port, when `tls` was given. */
  readonly stompTlsPort?: number;
}

const JAR = "/usr/share/activemq/bin/activemq.jar";
const JAVA = "/usr/bin/java";
// Both come with the JRE and Debian's openssl, which the activemq package and tools/setup.sh install.
const KEYTOOL = "/usr/bin/keytool";
const OPENSSL = "/usr/bin/openssl";

/**
 * The JVM reads keys from key stores, not PEM: a PKCS#12 key store with the server key and its
 * chain (made by openssl) and, for mutual TLS, a PKCS#12 trust store with the client CA (made by
 * keytool, because Java only trusts PKCS#12 entries that carry its own trusted-certificate mark).
 * Returns the `<sslContext>` element for activemq.xml.
 */
function writeKeyStores(dir: string, tls: BrokerTls): string {
  requireExecutable(OPENSSL, "openssl");
  const password = randomBytes(12).toString("hex");
  const file = (name: string) => join(dir, "conf", name);
  writeFileSync(file("server.crt"), tls.certPem);
  writeFileSync(file("server.key"), tls.keyPem, { mode: 0o600 });
  writeFileSync(file("ca.crt"), tls.caPem);
  const run = (command: string, args: string[]) => {
    try {
      execFileSync(command, args, { stdio: ["ignore", "ignore", "pipe"] });
    } catch (error) {
      const stderr = String((error as { stderr?: Buffer }).stderr ?? "");
      throw new BrokerError("ERR_BROKER_START", `${command} failed while preparing ActiveMQ TLS: ${stderr}`, {
        cause: error,
      });
    }
  };
  run(OPENSSL, [
    "pkcs12",
    "-export",
    "-in",
    file("server.crt"),
    "-inkey",
    file("server.key"),
    "-certfile",
    file("ca.crt"),
    "-name",
    "broker",
    "-out",
    file("broker-keystore.p12"),
    "-passout",
    `pass:${password}`,
  ]);
  let trust = "";
  if (tls.requireClientCertificate) {
    requireExecutable(KEYTOOL, "default-jre-headless");
    // keytool imports one certificate per call: every CA in the bundle becomes a trusted entry.
    const cas = tls.caPem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
    cas.forEach((pem, i) => {
      writeFileSync(file(`client-ca-${i}.crt`), `${pem}\n`);
      run(KEYTOOL, [
        "-importcert",
        "-noprompt",
        "-alias",
        `client-ca-${i}`,
        "-file",
        file(`client-ca-${i}.crt`),
        "-storetype",
        "PKCS12",
        "-keystore",
        file("broker-truststore.p12"),
        "-storepass",
        password,
      ]);
    });
    trust = ` trustStore="file:${file("broker-truststore.p12")}" trustStorePassword="${password}" trustStoreType="PKCS12"`;
  }
  return `    <sslContext>
      <sslContext keyStore="file:${file("broker-keystore.p12")}" keyStorePassword="${password}" keyStoreType="PKCS12"${trust}/>
    </sslContext>
`;
}

export async function startActiveMq(options: ActiveMqOptions = {}): Promise<RunningActiveMq> {
  requireExecutable(JAR, "activemq");
  requireExecutable(JAVA, "activemq");
  const dir = scratchDir("activemq");
  for (const sub of ["conf", "data", "tmp"]) mkdirSync(join(dir, sub));
  const stompPort = await freePort();
  const stompTlsPort = options.tls ? await freePort() : undefined;
  const maxFrame = options.maxFrameSize ?? 64 * 1024 * 1024;
  let sslContext = "";
  let tlsConnector = "";
  if (options.tls && stompTlsPort !== undefined) {
    try {
      sslContext = writeKeyStores(dir, options.tls);
    } catch (error) {
      removeDir(dir);
      throw error;
    }
    const clientAuth = options.tls.requireClientCertificate ? "&amp;transport.needClientAuth=true" : "";
    tlsConnector = `
      <transportConnector name="stomp-tls" uri="stomp+ssl://127.0.0.1:${stompTlsPort}?transport.transformer=none&amp;wireFormat.maxFrameSize=${maxFrame}${clientAuth}"/>`;
  }
  writeFileSync(
    join(dir, "conf", "activemq.xml"),
    `<beans xmlns="http://www.springframework.org/schema/beans"
       xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
       xsi:schemaLocation="http://www.springframework.org/schema/beans http://www.springframework.org/schema/beans/spring-beans.xsd
                           http://activemq.apache.org/schema/core http://activemq.apache.org/schema/core/activemq-core.xsd">
  <broker xmlns="http://activemq.apache.org/schema/core" useJmx="false" persistent="false"
          brokerName="xtest" dataDirectory="${join(dir, "data")}">
${sslContext}    <transportConnectors>
      <transportConnector name="stomp" uri="stomp://127.0.0.1:${stompPort}?transport.transformer=none&amp;wireFormat.maxFrameSize=${maxFrame}"/>${tlsConnector}
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
    ready: async (p) => {
      const timeout = options.startTimeoutMs ?? 60_000;
      await waitForPort("127.0.0.1", stompPort, timeout, () => p.alive());
      if (stompTlsPort !== undefined) await waitForPort("127.0.0.1", stompTlsPort, timeout, () => p.alive());
    },
  });
  Object.defineProperty(broker, "stompPort", { value: stompPort, enumerable: true });
  if (stompTlsPort !== undefined)
    Object.defineProperty(broker, "stompTlsPort", { value: stompTlsPort, enumerable: true });
  return broker as RunningActiveMq;
}
