/**
 * Publisher metadata: the measurement definitions a publisher serves, rendered as the ADO.NET
 * DataSet XML that STTP subscribers expect from MetadataRefresh (tables MeasurementDetail and
 * SchemaVersion), and resolution of subscription filter expressions against them.
 */
import { SttpFilterError } from "./errors.js";
import { isGuid, normalizeGuid } from "./guid.js";

/** A measurement a publisher can serve. */
export interface MeasurementDefinition {
  /** Signal GUID. */
  readonly signalId: string;
  /** Measurement key source, e.g. `PPA` in `PPA:1`. */
  readonly source: string;
  /** Measurement key id, e.g. `1` in `PPA:1`. */
  readonly id: number | bigint;
  readonly pointTag?: string;
  readonly signalReference?: string;
  readonly signalType?: string;
  readonly description?: string;
  readonly deviceAcronym?: string;
}

function escapeXml(text: string): string {
  return text.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Renders the DataSet XML (with an inline schema) for the given measurements. */
export function renderMetadataXml(
  definitions: readonly MeasurementDefinition[],
  updatedOn = new Date(),
): string {
  const columns = [
    "DeviceAcronym",
    "ID",
    "SignalID",
    "PointTag",
    "SignalReference",
    "SignalAcronym",
    "Description",
    "Enabled",
    "UpdatedOn",
  ];
  const schemaColumns = columns
    .map(
      (c) =>
        `<xs:element name="${c}" type="${c === "Enabled" ? "xs:boolean" : c === "UpdatedOn" ? "xs:dateTime" : c === "SignalID" ? "xs:string" : "xs:string"}" minOccurs="0" />`,
    )
    .join("");
  const schema =
    `<xs:schema id="DataSet" xmlns="" xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:msdata="urn:schemas-microsoft-com:xml-msdata">` +
    `<xs:element name="DataSet" msdata:IsDataSet="true"><xs:complexType><xs:choice minOccurs="0" maxOccurs="unbounded">` +
    `<xs:element name="MeasurementDetail"><xs:complexType><xs:sequence>${schemaColumns}</xs:sequence></xs:complexType></xs:element>` +
    `<xs:element name="SchemaVersion"><xs:complexType><xs:sequence><xs:element name="VersionNumber" type="xs:int" minOccurs="0" /></xs:sequence></xs:complexType></xs:element>` +
    `</xs:choice></xs:complexType></xs:element></xs:schema>`;
  const when = updatedOn.toISOString();
  const rows = definitions
    .map((d) => {
      const key = `${d.source}:${d.id}`;
      return (
        `<MeasurementDetail>` +
        `<DeviceAcronym>${escapeXml(d.deviceAcronym ?? d.source)}</DeviceAcronym>` +
        `<ID>${escapeXml(key)}</ID>` +
        `<SignalID>${normalizeGuid(d.signalId)}</SignalID>` +
        `<PointTag>${escapeXml(d.pointTag ?? key)}</PointTag>` +
        `<SignalReference>${escapeXml(d.signalReference ?? key)}</SignalReference>` +
        `<SignalAcronym>${escapeXml(d.signalType ?? "CALC")}</SignalAcronym>` +
        `<Description>${escapeXml(d.description ?? "")}</Description>` +
        `<Enabled>true</Enabled>` +
        `<UpdatedOn>${when}</UpdatedOn>` +
        `</MeasurementDetail>`
      );
    })
    .join("");
  return `<?xml version="1.0" standalone="yes"?>\n<DataSet>${schema}${rows}<SchemaVersion><VersionNumber>1</VersionNumber></SchemaVersion></DataSet>`;
}

/** Counts the MeasurementDetail rows of a metadata DataSet (a cheap summary without an XML parser). */
export function countMeasurementDetails(xml: string): number {
  return xml.match(/<MeasurementDetail>/g)?.length ?? 0;
}

/**
 * Resolves a filter expression of `;`-separated signal GUIDs, measurement keys (`PPA:1`) and point tags
 * to measurement definitions, in the order given, without duplicates. Terms that match nothing are
 * returned in `unmatched` (publishers ignore them). `FILTER … WHERE` expressions are not supported
 * and raise {@link SttpFilterError}.
 */
export function resolveFilterExpression(
  expression: string,
  definitions: readonly MeasurementDefinition[],
): { readonly matched: MeasurementDefinition[]; readonly unmatched: string[] } {
  if (/^\s*FILTER\s/i.test(expression)) {
    throw new SttpFilterError(
      "FILTER expressions are not supported; list signal IDs, measurement keys or point tags",
    );
  }
  const byGuid = new Map<string, MeasurementDefinition>();
  const byKey = new Map<string, MeasurementDefinition>();
  const byTag = new Map<string, MeasurementDefinition>();
  for (const d of definitions) {
    byGuid.set(normalizeGuid(d.signalId), d);
    byKey.set(`${d.source}:${d.id}`.toUpperCase(), d);
    if (d.pointTag) byTag.set(d.pointTag.toUpperCase(), d);
  }
  const seen = new Set<MeasurementDefinition>();
  const result: MeasurementDefinition[] = [];
  const unmatched: string[] = [];
  for (const raw of expression.split(";")) {
    const term = raw.trim().replace(/^'(.*)'$/, "$1");
    if (term.length === 0) continue;
    const upper = term.toUpperCase();
    const found = isGuid(term) ? byGuid.get(normalizeGuid(term)) : (byKey.get(upper) ?? byTag.get(upper));
    if (found === undefined) unmatched.push(term);
    else if (!seen.has(found)) {
      seen.add(found);
      result.push(found);
    }
  }
  return { matched: result, unmatched };
}
