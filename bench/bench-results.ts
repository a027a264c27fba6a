import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BenchRow } from './bench-case.js';
import type { Sample } from './measure.js';

/** A row as bench/results/<id>.json and summary.json hold it. */
export interface BenchResult {
  id: string;
  title: string;
  unit: string;
  value: number;
  baseline: number | null;
  ratio: number | null;
  target: string;
  met: boolean | null;
  note?: string;
  samples?: { value: Sample; baseline?: Sample };
}

const round = (x: number, digits = 1) => Math.round(x * 10 ** digits) / 10 ** digits;

/** A figure as the table shows it: thousands separated, two decimals under 100. */
export const fmt = (x: number) =>
  x >= 100 || Number.isInteger(x) ? Math.round(x).toLocaleString('en-US') : x.toFixed(2);

/** Judges a row against its target. */
export function toResult(row: BenchRow): BenchResult {
  const higher = row.higherIsBetter ?? true;
  const ratio = row.baseline ? row.value.median / row.baseline.median : null;
  const judged = row.target !== undefined && ratio !== null;
  return {
    id: row.id,
    title: row.title,
    unit: row.unit,
    value: round(row.value.median),
    baseline: row.baseline ? round(row.baseline.median) : null,
    ratio: ratio === null ? null : round(ratio, 3),
    target:
      row.target !== undefined ? `${higher ? '≥' : '≤'} ${row.target}×` : (row.targetText ?? '—'),
    met: judged ? (higher ? ratio >= row.target! : ratio <= row.target!) : null,
    ...(row.note && { note: row.note }),
    samples: { value: row.value, ...(row.baseline && { baseline: row.baseline }) },
  };
}

/** The line printed when a row is recorded: median [min–max] of each side. */
export function describe(row: BenchRow, result: BenchResult): string {
  const range = (x: Sample) => `${fmt(x.median)} [${fmt(x.min)}–${fmt(x.max)}]`;
  const verdict = result.met === null ? '' : result.met ? ' MET' : ' NOT MET';
  return (
    `\n  ${row.id}: ${range(row.value)} ${row.unit}` +
    (row.baseline
      ? ` vs baseline ${range(row.baseline)} → ${result.ratio!.toFixed(3)}× (target ${result.target})${verdict}`
      : '') +
    (row.note ? `\n     ${row.note}` : '')
  );
}

/**
 * Writes bench/results/<id>.json per row and summary.json. A partial run
 * (`--only`) replaces its own rows in the summary of a whole one.
 */
export function writeResults(dir: string, results: BenchResult[], partial: boolean) {
  mkdirSync(dir, { recursive: true });
  for (const result of results) {
    writeFileSync(join(dir, `${result.id}.json`), JSON.stringify(result, null, 2) + '\n');
  }
  const summary = results.map(({ samples: _samples, ...row }) => row);
  const file = join(dir, 'summary.json');
  const previous: BenchResult[] =
    partial && existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : [];
  const merged = previous.map((row) => summary.find((r) => r.id === row.id) ?? row);
  for (const row of summary) if (!merged.some((r) => r.id === row.id)) merged.push(row);
  writeFileSync(file, JSON.stringify(merged, null, 2) + '\n');
}

/** The results as the README's markdown table. */
export function table(results: BenchResult[]): string {
  const lines = [
    '| id | what | value | baseline | ratio | target | met |',
    '|---|---|---|---|---|---|---|',
  ];
  for (const r of results) {
    const met = r.met === null ? '—' : r.met ? 'yes' : 'no';
    const baseline = r.baseline === null ? '—' : fmt(r.baseline);
    lines.push(
      `| ${r.id} | ${r.title} | ${fmt(r.value)} ${r.unit} | ${baseline} | ${r.ratio ?? '—'} | ${r.target} | ${met} |`,
    );
  }
  return lines.join('\n');
}
