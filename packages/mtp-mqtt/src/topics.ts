/**
 * MQTT topic helpers for the USP binding: the 3.1.1 `/reply-to=` convention (R-MQTT.24/25),
 * topic-filter matching (to avoid overlapping subscriptions, which Mosquitto delivers twice)
 * and validation of the topics we publish to.
 */

/** The marker a 3.1.1 sender appends to the PUBLISH Topic Name (R-MQTT.24). */
export const REPLY_TO_MARKER = "/reply-to=";

/**
 * Append `/reply-to=<reply topic with every "/" as "%2F">` to `topic` (R-MQTT.24).
 * Example: `usp/agent/x` + `usp/controller/c` -> `usp/agent/x/reply-to=usp%2Fcontroller%2Fc`.
 */
export function appendReplyTo(topic: string, replyTopic: string): string {
  return `${topic}${REPLY_TO_MARKER}${replyTopic.replaceAll("/", "%2F")}`;
}

/** The result of splitting a received 3.1.1-style topic. */
export interface SplitReplyTo {
  /** The topic the PUBLISH was sent to, without the reply-to suffix. */
  readonly topic: string;
  /** The decoded reply topic, when the topic carried one. */
  readonly replyTo: string | undefined;
}

/**
 * Split a received Topic Name per R-MQTT.25: the reply topic is the text after the LAST
 * `/reply-to=`, with `%2F` (either case) turned back into `/` and nothing else decoded.
 * OB-USP-Agent reads after the first occurrence and fully percent-decodes; both readings
 * agree whenever topics contain no `/reply-to=` and no other `%XX`, which is what we send.
 */
export function splitReplyTo(topicName: string): SplitReplyTo {
  const at = topicName.lastIndexOf(REPLY_TO_MARKER);
  if (at < 0) return { topic: topicName, replyTo: undefined };
  const encoded = topicName.slice(at + REPLY_TO_MARKER.length);
  const replyTo = encoded.replace(/%2F/gi, "/");
  return { topic: topicName.slice(0, at), replyTo: replyTo.length > 0 ? replyTo : undefined };
}

/** True when `filter` contains an MQTT wildcard (`+` or `#`). */
export function hasWildcard(filter: string): boolean {
  return filter.includes("+") || filter.includes("#");
}

/**
 * Does the Topic Filter `filter` match the Topic Name `topic` (MQTT 5.0 §4.7)?
 * `#` matches the parent level too (`a/#` matches `a`); filters starting with a wildcard
 * never match topics starting with `$`.
 */
export function topicMatches(filter: string, topic: string): boolean {
  const f = filter.split("/");
  const t = topic.split("/");
  if (topic.startsWith("$") && (filter.startsWith("+") || filter.startsWith("#"))) return false;
  for (let i = 0; i < f.length; i++) {
    const level = f[i];
    if (level === "#") return i === f.length - 1;
    if (i >= t.length) return false;
    if (level !== "+" && level !== t[i]) return false;
  }
  return f.length === t.length;
}

/**
 * Does `filter` cover every topic that `inner` can match? Used for "subscribe to X unless
 * already covered" (R-MQTT.15-17): `a/#` covers `a/b`, `a/+` and `a/b/#`; `a/+` covers `a/b`.
 */
export function filterCovers(filter: string, inner: string): boolean {
  if (filter === inner) return true;
  const f = filter.split("/");
  const g = inner.split("/");
  for (let i = 0; i < f.length; i++) {
    const level = f[i];
    if (level === "#") return i === f.length - 1;
    const other = g[i];
    if (other === undefined) return false;
    if (other === "#") return false;
    if (level === "+") continue;
    if (other === "+" || level !== other) return false;
  }
  return f.length === g.length;
}

/** Why a topic name or filter is unusable, or undefined when it is fine. */
export function topicNameProblem(topic: string): string | undefined {
  if (topic.length === 0) return "empty topic";
  if (hasWildcard(topic)) return `topic "${topic}" contains a wildcard`;
  if (topic.includes("\u0000")) return "topic contains NUL";
  if (Buffer.byteLength(topic, "utf8") > 65535) return "topic longer than 65535 bytes";
  return undefined;
}

/** Why a Topic Filter is malformed (MQTT 5.0 §4.7.1), or undefined when it is fine. */
export function topicFilterProblem(filter: string): string | undefined {
  if (filter.length === 0) return "empty topic filter";
  if (filter.includes("\u0000")) return "topic filter contains NUL";
  if (Buffer.byteLength(filter, "utf8") > 65535) return "topic filter longer than 65535 bytes";
  const levels = filter.split("/");
  for (let i = 0; i < levels.length; i++) {
    const level = levels[i] ?? "";
    if (level.includes("#") && (level !== "#" || i !== levels.length - 1)) {
      return `"#" must be a whole last level in "${filter}"`;
    }
    if (level.includes("+") && level !== "+") return `"+" must be a whole level in "${filter}"`;
  }
  return undefined;
}
