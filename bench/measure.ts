/** A measurement's median over its samples, with the spread. */
export interface Sample {
  median: number;
  min: number;
  max: number;
}

/** Median, min and max of `values`. */
export function stats(values: number[]): Sample {
  const sorted = [...values].sort((a, b) => a - b);
  return {
    median: sorted[Math.floor(sorted.length / 2)],
    min: sorted[0],
    max: sorted[sorted.length - 1],
  };
}

/** Seconds elapsed since `start` (a `process.hrtime.bigint()`). */
export const seconds = (start: bigint) => Number(process.hrtime.bigint() - start) / 1e9;

/**
 * Runs every measure of `measures` in turn, `samples` rounds of all of them,
 * after `warmup` unrecorded rounds. Alternating keeps a value and its
 * baseline under the same load on a shared machine; short measurements get
 * warm-up rounds for the JIT and the GC.
 */
export async function alternate<K extends string>(
  measures: Record<K, () => Promise<number>>,
  { samples, warmup = 0 }: { samples: number; warmup?: number },
): Promise<Record<K, Sample>> {
  const names = Object.keys(measures) as K[];
  const values = new Map<K, number[]>(names.map((name) => [name, []]));
  for (let round = 0; round < warmup + samples; round++) {
    for (const name of names) {
      const value = await measures[name]();
      if (round >= warmup) values.get(name)!.push(value);
    }
    if (round >= warmup) process.stdout.write('.');
  }
  return Object.fromEntries(names.map((name) => [name, stats(values.get(name)!)])) as Record<
    K,
    Sample
  >;
}

/**
 * Runs `callers` concurrent loops that share `ops` operations, each caller
 * awaiting its operation before taking the next; returns operations per second.
 */
export async function concurrent(
  callers: number,
  ops: number,
  op: (i: number) => Promise<unknown>,
): Promise<number> {
  let next = 0;
  const start = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: callers }, async () => {
      while (next < ops) await op(next++);
    }),
  );
  return ops / seconds(start);
}
