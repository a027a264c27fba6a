/**
 * `node journal-holder.js <journal path>`: opens the journaled memory
 * storage at that path and holds it until killed. Prints `HOLDING <pid>`
 * once it holds it, or `REFUSED <error name>: <message>` and exits with 3.
 */
import { createStorage } from '../../lib/storage/create-storage.js';

const path = process.argv[2];
try {
  const storage = await createStorage({ type: 'memory', journal: { path } });
  // Listen before answering: a SIGTERM that arrives before a listener exists kills the process.
  process.once('SIGTERM', () => void storage.close().then(() => process.exit(0)));
  console.log(`HOLDING ${process.pid}`);
  setInterval(() => undefined, 60_000);
} catch (error) {
  console.log(`REFUSED ${(error as Error).name}: ${(error as Error).message}`);
  process.exit(3);
}
