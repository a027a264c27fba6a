/**
 * `node journal-holder.js <journal path>`: opens the journaled memory
 * storage at that path and holds it until killed. Prints `HOLDING <pid>`
 * once it holds it, or `REFUSED <error name>: <message>` and exits with 3.
 */
import { createStorage } from '../../lib/storage/create-storage.js';

const path = process.argv[2];
try {
  const storage = await createStorage({ type: 'memory', journal: { path } });
  console.log(`HOLDING ${process.pid}`);
  const close = () => void storage.close().then(() => process.exit(0));
  process.once('SIGTERM', close);
  setInterval(() => undefined, 60_000);
} catch (error) {
  console.log(`REFUSED ${(error as Error).name}: ${(error as Error).message}`);
  process.exit(3);
}
