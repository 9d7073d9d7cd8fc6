// Pure parsing of `nvidia-smi --query-gpu=… --format=csv…` and `--query-compute-apps=…` output.
//
// Accepts both the machine format the probe asks for (`csv,noheader,nounits`, columns in the
// order of GPU_QUERY_FIELDS / APPS_QUERY_FIELDS) and the human one (`csv` with a header line and
// units, as in the real H200 captures under test/fixtures/nvidia-smi/), where columns are found
// by their header names. Tolerated: `[N/A]`, `N/A`, `[Not Supported]` and any other bracketed
// placeholder in any column, missing trailing columns, blank lines, CRLF, a BOM, and commas
// inside a GPU or process name (nvidia-smi does not quote: the name column takes whatever is
// left after the fixed columns on either side of it are taken from both ends of the line).

import type { GpuProcessReading, GpuReading } from './probe.js';

/** The fields the probe queries, in this order, with `--format=csv,noheader,nounits`. */
export const GPU_QUERY_FIELDS = [
  'index',
  'uuid',
  'name',
  'memory.total',
  'memory.used',
  'memory.free',
  'memory.reserved',
  'utilization.gpu',
  'temperature.gpu',
  'power.draw',
] as const;

/** For drivers that do not know `memory.reserved` (it then counts as 0). */
export const GPU_QUERY_FIELDS_NO_RESERVED = GPU_QUERY_FIELDS.filter((f) => f !== 'memory.reserved');

export const APPS_QUERY_FIELDS = ['pid', 'used_memory', 'gpu_uuid'] as const;

export class NvidiaSmiParseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NvidiaSmiParseError';
  }
}

// Header names differ from query names in places (`used_memory` is printed as `used_gpu_memory`).
const FIELD_ALIASES: Record<string, string> = {
  used_gpu_memory: 'used_memory',
};

/** Columns whose text may itself contain commas; at most one per line can be recovered. */
const FREE_TEXT_FIELDS = new Set(['name', 'process_name']);

/** Lines nvidia-smi prints instead of rows when there is nothing to list. */
const EMPTY_MARKERS = [/^no running (compute )?processes found/i, /^no devices were found/i];

function splitLines(text: string): string[] {
  return text
    .replace(/^\uFEFF/, '')
    .split(/\r?\n|\r/)
    .map((l) => l.trim())
    .filter((l) => l.length > 0 && !EMPTY_MARKERS.some((re) => re.test(l)));
}

function normaliseHeaderName(raw: string): string {
  const name = raw
    .trim()
    .replace(/\s*\[[^\]]*\]\s*$/, '') // "memory.total [MiB]" → "memory.total"
    .trim()
    .toLowerCase();
  return FIELD_ALIASES[name] ?? name;
}

/** True for nvidia-smi's "no value" placeholders: N/A, [N/A], [Not Supported], [Unknown Error]… */
function isPlaceholder(value: string): boolean {
  const v = value.trim();
  return v === '' || /^\[.*\]$/.test(v) || /^n\/?a$/i.test(v) || /^not supported$/i.test(v);
}

/**
 * Splits one row into exactly `fields.length` values (or fewer, when trailing columns are
 * missing). When the row has more comma-separated parts than fields, the free-text column
 * absorbs the extra ones.
 */
function splitRow(line: string, fields: readonly string[]): string[] {
  const parts = line.split(',');
  if (parts.length <= fields.length) return parts.map((p) => p.trim());
  const freeIdx = fields.findIndex((f) => FREE_TEXT_FIELDS.has(f));
  if (freeIdx < 0) {
    throw new NvidiaSmiParseError(`expected ${fields.length} columns, got ${parts.length}`);
  }
  const after = fields.length - freeIdx - 1;
  const head = parts.slice(0, freeIdx);
  const middle = parts.slice(freeIdx, parts.length - after).join(',');
  const tail = parts.slice(parts.length - after);
  return [...head, middle, ...tail].map((p) => p.trim());
}

interface Table {
  fields: string[];
  rows: Array<{ lineNo: number; line: string; values: Map<string, string> }>;
}

/**
 * Reads the lines as a table. A first line whose first cell is the name of the first expected
 * field (e.g. "index" or "pid") is a header and sets the columns; otherwise `defaultFields` do.
 */
function readTable(text: string, defaultFields: readonly string[], what: string): Table {
  const lines = splitLines(text);
  let fields: string[] = [...defaultFields];
  let start = 0;
  if (lines.length > 0) {
    const firstCell = normaliseHeaderName(lines[0]!.split(',')[0] ?? '');
    if (firstCell === defaultFields[0]) {
      fields = lines[0]!.split(',').map(normaliseHeaderName);
      start = 1;
    }
  }
  const rows: Table['rows'] = [];
  for (let i = start; i < lines.length; i++) {
    const line = lines[i]!;
    let values: string[];
    try {
      values = splitRow(line, fields);
    } catch (err) {
      throw new NvidiaSmiParseError(`${what}: line ${i + 1} not understood (${(err as Error).message}): ${clip(line)}`);
    }
    const map = new Map<string, string>();
    fields.forEach((f, j) => {
      if (j < values.length) map.set(f, values[j]!);
    });
    rows.push({ lineNo: i + 1, line, values: map });
  }
  return { fields, rows };
}

function clip(s: string): string {
  return s.length > 120 ? `${s.slice(0, 117)}...` : s;
}

/**
 * A number from a cell: "143771", "143771 MiB", "0 %", "125.10 W", "42 C". Null for placeholders
 * or a missing cell; throws for anything else.
 */
function num(row: Table['rows'][number], field: string, what: string): number | null {
  const raw = row.values.get(field);
  if (raw === undefined || isPlaceholder(raw)) return null;
  const m = /^([-+]?\d+(?:\.\d+)?)\s*(?:MiB|%|W|C|°C)?$/i.exec(raw.trim());
  if (!m) {
    throw new NvidiaSmiParseError(`${what}: line ${row.lineNo}: ${field} is not a number ("${clip(raw)}"): ${clip(row.line)}`);
  }
  return Number(m[1]);
}

function text(row: Table['rows'][number], field: string): string | null {
  const raw = row.values.get(field);
  if (raw === undefined || isPlaceholder(raw)) return null;
  return raw;
}

function requireInt(value: number | null, row: Table['rows'][number], field: string, what: string): number {
  if (value === null || !Number.isInteger(value) || value < 0) {
    throw new NvidiaSmiParseError(`${what}: line ${row.lineNo}: ${field} missing or not a whole number: ${clip(row.line)}`);
  }
  return value;
}

/**
 * Parses `--query-gpu` output. `fields` gives the column order of header-less output (the
 * probe's own query by default). Memory figures that read N/A become 0 (unified-memory parts
 * report no dedicated total); `memory.reserved` absent (old drivers) is 0.
 */
export function parseGpuQuery(output: string, fields: readonly string[] = GPU_QUERY_FIELDS): GpuReading[] {
  const what = 'nvidia-smi --query-gpu';
  const table = readTable(output, fields, what);
  if (!table.fields.includes('index') || !table.fields.includes('memory.total')) {
    throw new NvidiaSmiParseError(`${what}: columns index and memory.total are required (got: ${table.fields.join(', ')})`);
  }
  const gpus: GpuReading[] = [];
  for (const row of table.rows) {
    const index = requireInt(num(row, 'index', what), row, 'index', what);
    // The fixed leading columns must be present; trailing ones may be missing.
    if (!row.values.has('memory.total')) {
      throw new NvidiaSmiParseError(`${what}: line ${row.lineNo}: too few columns: ${clip(row.line)}`);
    }
    const totalMiB = num(row, 'memory.total', what) ?? 0;
    const usedMiB = num(row, 'memory.used', what) ?? 0;
    const reservedMiB = num(row, 'memory.reserved', what) ?? 0;
    const freeRead = num(row, 'memory.free', what);
    const freeMiB = freeRead ?? Math.max(0, totalMiB - usedMiB - reservedMiB);
    gpus.push({
      index,
      uuid: text(row, 'uuid'),
      name: text(row, 'name') ?? `GPU ${index}`,
      totalMiB,
      usedMiB,
      freeMiB,
      reservedMiB,
      utilizationPercent: num(row, 'utilization.gpu', what),
      temperatureC: num(row, 'temperature.gpu', what),
      powerW: num(row, 'power.draw', what),
    });
  }
  const seen = new Set<number>();
  for (const g of gpus) {
    if (seen.has(g.index)) throw new NvidiaSmiParseError(`${what}: GPU index ${g.index} listed twice`);
    seen.add(g.index);
  }
  return gpus.sort((a, b) => a.index - b.index);
}

/**
 * Parses `--query-compute-apps` output, mapping each process's GPU uuid to the GPU's index
 * through `gpus`. Rows whose uuid matches no GPU (e.g. a MIG instance) are dropped; used memory
 * that reads N/A (no per-process accounting, e.g. under WDDM) is 0. Order follows the input
 * (nvidia-smi lists processes in no particular order).
 */
export function parseComputeApps(
  output: string,
  gpus: ReadonlyArray<Pick<GpuReading, 'index' | 'uuid'>>,
  fields: readonly string[] = APPS_QUERY_FIELDS,
): GpuProcessReading[] {
  const what = 'nvidia-smi --query-compute-apps';
  const table = readTable(output, fields, what);
  if (!table.fields.includes('pid')) {
    throw new NvidiaSmiParseError(`${what}: column pid is required (got: ${table.fields.join(', ')})`);
  }
  const byUuid = new Map<string, number>();
  for (const g of gpus) if (g.uuid) byUuid.set(g.uuid.toLowerCase(), g.index);
  const hasUuid = table.fields.includes('gpu_uuid');
  const out: GpuProcessReading[] = [];
  for (const row of table.rows) {
    const pid = requireInt(num(row, 'pid', what), row, 'pid', what);
    const usedMiB = num(row, 'used_memory', what) ?? 0;
    let gpuIndex: number | undefined;
    if (hasUuid) {
      const uuid = text(row, 'gpu_uuid');
      gpuIndex = uuid ? byUuid.get(uuid.toLowerCase()) : undefined;
    } else if (gpus.length === 1) {
      gpuIndex = gpus[0]!.index; // one GPU: no doubt where it runs
    }
    if (gpuIndex === undefined) continue;
    out.push({ pid, gpuIndex, usedMiB });
  }
  return out;
}

/** Both queries at once: the GPUs and the processes on them. */
export function parseNvidiaSmi(
  gpuOutput: string,
  appsOutput: string,
  gpuFields: readonly string[] = GPU_QUERY_FIELDS,
): { gpus: GpuReading[]; processes: GpuProcessReading[] } {
  const gpus = parseGpuQuery(gpuOutput, gpuFields);
  return { gpus, processes: parseComputeApps(appsOutput, gpus) };
}
