/** Turning caller input (PEM text, DER bytes, node X509Certificate, arrays) into DER buffers. */
import { X509Certificate as NodeX509Certificate } from "node:crypto";
import { CertInputError, CertParseError } from "./errors.js";

/**
 * One or more certificates: PEM text (one or several blocks), DER bytes, a node:crypto
 * `X509Certificate`, an object with a DER `raw` field (Node's legacy peer certificate), or an array
 * of these. Arrays and multi-block PEM are ordered peer first.
 */
export type CertInput =
  | string
  | Uint8Array
  | NodeX509Certificate
  | { readonly raw: Uint8Array }
  | readonly CertInput[];

/** Upper bound of one certificate, before any parsing (a budget item). */
export const MAX_CERT_BYTES = 64 * 1024;

const PEM_RE = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;

/** Decodes every PEM block with one of the given labels. */
export function pemBlocks(text: string, labels: readonly string[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const m of text.matchAll(PEM_RE)) {
    if (!labels.includes(m[1]!)) continue;
    const body = m[2]!.replace(/\s+/g, "");
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(body))
      throw new CertParseError(`PEM: invalid base64 in ${m[1]} block`);
    out.push(new Uint8Array(Buffer.from(body, "base64")));
  }
  return out;
}

/** Flattens any {@link CertInput} into DER buffers, peer first. */
export function toDerList(input: CertInput): Uint8Array[] {
  if (typeof input === "string") {
    if (!input.includes("-----BEGIN"))
      throw new CertInputError("expected PEM text (-----BEGIN CERTIFICATE-----)");
    const blocks = pemBlocks(input, ["CERTIFICATE", "X509 CERTIFICATE", "TRUSTED CERTIFICATE"]);
    if (blocks.length === 0) throw new CertInputError("no CERTIFICATE block in the PEM text");
    return blocks;
  }
  if (input instanceof Uint8Array) return [input];
  if (input instanceof NodeX509Certificate) return [new Uint8Array(input.raw)];
  if (Array.isArray(input)) return (input as readonly CertInput[]).flatMap((i) => toDerList(i));
  if (input && typeof input === "object" && "raw" in input && input.raw instanceof Uint8Array)
    return [input.raw];
  throw new CertInputError("unsupported certificate input (PEM string, DER Uint8Array or X509Certificate)");
}
