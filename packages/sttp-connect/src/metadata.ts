/**
 * Publisher metadata: the measurement definitions a publisher serves, rendered as the ADO.NET
 * DataSet XML that STTP subscribers expect from MetadataRefresh (tables MeasurementDetail and
 * SchemaVersion), and resolution of subscription filter expressions against them.
 */
import type { SttpFilterError } from "./errors.js";
import type { FilterTable, Value } from "./filter/evaluate.js";
import { parseFilterExpression } from "./filter/parser.js";
import { guidTerm, selectRows } from "./filter/select.js";
import { normalizeGuid } from "./guid.js";

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

/** Tables a filter expression can name; both hold one row per measurement definition. */
export const FILTER_TABLES = ["ActiveMeasurements", "MeasurementDetail"] as const;

/**
 * Columns of the filter tables: the standard ActiveMeasurements columns plus the MeasurementDetail ones
 * our metadata renders, mapped from {@link MeasurementDefinition}. Columns we have no data for are NULL
 * (so expressions naming them evaluate instead of failing). Both tables accept every column.
 */
export function filterRow(d: MeasurementDefinition, updatedOn: number): Map<string, Value> {
  const key = `${d.source}:${d.id}`;
  const s = (value: string): Value => ({ type: "str", value });
  const nil: Value = { type: "null" };
  const signalType = s(d.signalType ?? "CALC");
  const device = s(d.deviceAcronym ?? d.source);
  const row = new Map<string, Value>([
    ["SOURCENODEID", nil],
    ["ID", s(key)],
    ["SIGNALID", { type: "guid", value: normalizeGuid(d.signalId) }],
    ["POINTTAG", s(d.pointTag ?? key)],
    ["ALTERNATETAG", nil],
    ["SIGNALREFERENCE", s(d.signalReference ?? key)],
    ["INTERNAL", { type: "bool", value: true }],
    ["SUBSCRIBED", { type: "bool", value: false }],
    ["DEVICE", device],
    ["DEVICEACRONYM", device],
    ["DEVICEID", nil],
    ["FRAMESPERSECOND", nil],
    ["PROTOCOL", nil],
    ["PROTOCOLTYPE", nil],
    ["SIGNALTYPE", signalType],
    ["SIGNALACRONYM", signalType],
    ["ENGINEERINGUNITS", nil],
    ["PHASORID", nil],
    ["PHASORTYPE", nil],
    ["PHASE", nil],
    ["ADDER", { type: "num", value: 0 }],
    ["MULTIPLIER", { type: "num", value: 1 }],
    ["COMPANY", nil],
    ["LONGITUDE", nil],
    ["LATITUDE", nil],
    ["DESCRIPTION", s(d.description ?? "")],
    ["ENABLED", { type: "bool", value: true }],
    ["UPDATEDON", { type: "date", value: updatedOn }],
  ]);
  return row;
}

/**
 * Resolves a subscription filter expression (STTP filter-expression syntax) to measurement definitions,
 * without duplicates.
 *
 * Statements are separated by `;`. A single-term statement is a signal GUID, a measurement key
 * (`PPA:1`) or a point tag (optionally in quotes); `FILTER [TOP n] <table> WHERE <expression>
 * [ORDER BY <column> [ASC|DESC], …]` selects rows of `ActiveMeasurements` (or `MeasurementDetail`); any
 * other statement is an expression evaluated against `ActiveMeasurements`. As in the reference, the
 * rows named by identifier statements come first (in order), then each FILTER's rows in order.
 * Identifier terms that match nothing are returned in `unmatched` (publishers ignore them); syntax and
 * evaluation errors, and unknown tables or columns, raise {@link SttpFilterError}.
 */
export function resolveFilterExpression(
  expression: string,
  definitions: readonly MeasurementDefinition[],
): { readonly matched: MeasurementDefinition[]; readonly unmatched: string[] } {
  const statements = parseFilterExpression(expression);
  const byGuid = new Map<string, number>();
  const byKey = new Map<string, number>();
  const byTag = new Map<string, number>();
  definitions.forEach((d, i) => {
    // First definition wins, as the reference maps an identifier to its first matching row.
    const guid = normalizeGuid(d.signalId);
    if (!byGuid.has(guid)) byGuid.set(guid, i);
    const key = `${d.source}:${d.id}`.toUpperCase();
    if (!byKey.has(key)) byKey.set(key, i);
    const tag = d.pointTag?.toUpperCase();
    if (tag && !byTag.has(tag)) byTag.set(tag, i);
  });
  // Rows are only built when a statement needs them.
  const needsRows = statements.some((s) => s.kind !== "identifier");
  return selectRows(statements, {
    tables: filterTables(needsRows ? definitions : []),
    primary: "ActiveMeasurements",
    item: (_table, index) => definitions[index] as MeasurementDefinition,
    lookup: (term) => {
      const guid = guidTerm(term);
      if (guid !== undefined) return byGuid.get(guid) ?? -1;
      const upper = term.toUpperCase();
      return byKey.get(upper) ?? byTag.get(upper) ?? -1;
    },
  });
}

const PLACEHOLDER: MeasurementDefinition = {
  signalId: "00000000-0000-0000-0000-000000000000",
  source: "",
  id: 0,
};

/** Every table a filter may name, each holding one row per definition (the same rows). */
function filterTables(definitions: readonly MeasurementDefinition[]): Map<string, FilterTable> {
  const updatedOn = Date.now();
  const rows = definitions.map((d) => filterRow(d, updatedOn));
  const columns = new Set(filterRow(PLACEHOLDER, 0).keys());
  return new Map(FILTER_TABLES.map((name) => [name.toUpperCase(), { name, columns, rows }]));
}

/**
 * Applies MetadataRefresh filters (`FILTER <table> WHERE …` statements, `;`-separated) to the
 * definitions rendered as MeasurementDetail rows. As GSF publishers do, only statements naming the
 * MeasurementDetail table (or ActiveMeasurements, the same rows here) apply; statements for tables we
 * do not serve (DeviceDetail, PhasorDetail, …) and other statement kinds are ignored, and without an
 * applicable statement every definition is returned. Syntax and evaluation errors raise
 * {@link SttpFilterError}.
 */
export function filterMetadata(
  filters: string,
  definitions: readonly MeasurementDefinition[],
): readonly MeasurementDefinition[] {
  const served = new Set(FILTER_TABLES.map((t) => t.toUpperCase()));
  const statements = parseFilterExpression(filters).filter(
    (s) => s.kind === "filter" && served.has(s.table.toUpperCase()),
  );
  if (statements.length === 0) return definitions;
  return selectRows(statements, {
    tables: filterTables(definitions),
    primary: "ActiveMeasurements",
    item: (_table, index) => definitions[index] as MeasurementDefinition,
    lookup: () => -1,
  }).matched;
}
