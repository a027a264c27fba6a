import { afterEach } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestDatabase } from './databases.js';

/**
 * Journal directories and databases a suite makes, removed after each of
 * its tests: push to `dirs` and `databases`, or take a `journalPath()`.
 */
export function scratchSpace(prefix = 'wb-journal-') {
  const dirs: string[] = [];
  const databases: TestDatabase[] = [];
  afterEach(async () => {
    while (dirs.length) rmSync(dirs.pop()!, { recursive: true, force: true });
    while (databases.length) await databases.pop()!.drop();
  });
  return {
    dirs,
    databases,
    /** A journal file path in a new directory of its own. */
    journalPath(): string {
      const dir = mkdtempSync(join(tmpdir(), prefix));
      dirs.push(dir);
      return join(dir, 'journal.mdb');
    },
  };
}
