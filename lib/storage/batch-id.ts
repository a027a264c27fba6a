import { randomUUID } from 'node:crypto';

let counter = 0;

/**
 * A new batch id: unique across processes, and sorting in claim order
 * within one process (claim time, then a counter), so dead letters of
 * batches claimed in the same millisecond still come back in order.
 */
export function newBatchId(): string {
  const time = Date.now().toString(36).padStart(10, '0');
  const count = (counter++ % 1_679_616).toString(36).padStart(4, '0');
  return `${time}-${count}-${randomUUID()}`;
}
