import type { Sample } from './measure.js';

/** A server a case needs; without it the case is skipped with the reason printed. */
export type BenchServer = 'postgres' | 'redis' | 'mariadb';

/** One row of the results: a figure, usually a ratio against a baseline of the same run. */
export interface BenchRow {
  /** Stable id: `npm run bench -- --only <id>` repeats the case that records it. */
  id: string;
  /** What is measured, as the results table shows it. */
  title: string;
  unit: string;
  value: Sample;
  baseline?: Sample;
  /** The ratio value / baseline must reach (`higherIsBetter`, default) or stay under. */
  target?: number;
  higherIsBetter?: boolean;
  /** A target that is not a ratio, shown as is and never judged. */
  targetText?: string;
  /** What else the figure needs to be read right. */
  note?: string;
}

/** What a case gets from the runner. */
export interface Bench {
  /** `--quick`: fewer samples and operations. */
  quick: boolean;
  /** Samples per measure (the median is reported). */
  samples: number;
  /** Adds a row to the results and prints it. */
  record(row: BenchRow): void;
}

/** One benchmark: a file in bench/cases/ exports one. */
export interface BenchCase {
  /** Stable id; the rows it records start with it. */
  id: string;
  title: string;
  /** Servers it needs. */
  requires: BenchServer[];
  /** Runs only in a whole run, not with `--quick`. */
  slow?: boolean;
  /** Measures and records its rows; closes everything it opened. */
  run(bench: Bench): Promise<void>;
}
