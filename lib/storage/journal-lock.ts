import { randomUUID } from 'node:crypto';
import {
  linkSync,
  mkdirSync,
  readFileSync,
  renameSync,
  statSync,
  unlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { hostname } from 'node:os';
import { basename, dirname, extname, join } from 'node:path';
import { WriteBufferConfigError } from '../errors.js';

/** Who holds a journal, as recorded in its owner file. */
export interface JournalHolder {
  pid: number;
  host: string;
  /** When the holding process started (ISO time). */
  startedAt: string;
  /** Linux: start time of the process in clock ticks since boot (tells a reused pid apart). */
  procStart?: string;
  token: string;
}

/** How often the holder touches its owner file. */
const HEARTBEAT_MS = 10_000;
/** An owner file of another host untouched for this long belongs to a dead process. */
const FOREIGN_STALE_MS = 6 * HEARTBEAT_MS;
/** An owner file too young to have been written completely yet. */
const UNREADABLE_GRACE_MS = 5_000;

const processStartedAt = new Date(Math.round(performance.timeOrigin)).toISOString();

/**
 * One process per journal: an owner file beside the LMDB environment,
 * created atomically (hard link of a complete temporary file, which fails
 * if the owner file exists). It names the holder's pid, host and start.
 * A holder that died without removing it (SIGKILL, power loss) does not
 * block the next start: on the same host, a pid that no longer runs (or
 * now runs another process) makes the file stale; from another host
 * sharing the volume, a file the holder stopped touching for a minute.
 */
export class JournalLock {
  private heartbeat?: NodeJS.Timeout;

  private constructor(
    readonly file: string,
    private readonly token: string,
  ) {
    this.heartbeat = setInterval(() => {
      try {
        const now = new Date();
        utimesSync(this.file, now, now);
      } catch {
        // Gone or unreachable: the next opener decides.
      }
    }, HEARTBEAT_MS);
    this.heartbeat.unref();
  }

  /** Takes the journal at `path`, or throws `WriteBufferConfigError` naming its holder. */
  static acquire(path: string): JournalLock {
    const file = ownerFile(path);
    mkdirSync(dirname(file), { recursive: true });
    const me: JournalHolder = {
      pid: process.pid,
      host: hostname(),
      startedAt: processStartedAt,
      procStart: procStart(process.pid),
      token: randomUUID(),
    };
    for (let attempt = 0; attempt < 10; attempt++) {
      const temp = `${file}.${me.token}.tmp`;
      writeFileSync(temp, JSON.stringify(me));
      try {
        linkSync(temp, file);
        return new JournalLock(file, me.token);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      } finally {
        unlinkSync(temp);
      }
      const text = readOrNull(file);
      if (text === null) continue; // released meanwhile
      const holder = parse(text);
      if (holder ? isAlive(holder, file) : isYoung(file)) {
        throw WriteBufferConfigError.journalInUse(path, file, holder);
      }
      // Stale: move it aside, and delete it only if it is the file judged stale.
      const aside = `${file}.${me.token}.stale`;
      try {
        renameSync(file, aside);
      } catch {
        continue;
      }
      if (readOrNull(aside) !== text) {
        // Another opener took over between the read and the rename: give it back.
        try {
          linkSync(aside, file);
        } catch {
          // Taken again meanwhile; the link attempt above decides.
        }
      }
      unlinkSync(aside);
    }
    throw WriteBufferConfigError.journalInUse(path, file, parse(readOrNull(file) ?? ''));
  }

  /** Gives the journal up (only if the owner file is still this holder's). */
  release(): void {
    clearInterval(this.heartbeat);
    this.heartbeat = undefined;
    const holder = parse(readOrNull(this.file) ?? '');
    if (holder?.token !== this.token) return;
    try {
      unlinkSync(this.file);
    } catch {
      // Already gone.
    }
  }
}

/** The owner file: beside the environment file, or inside its directory. */
export function ownerFile(path: string): string {
  return extname(path) ? join(dirname(path), `${basename(path)}-owner`) : join(path, 'owner');
}

function isAlive(holder: JournalHolder, file: string): boolean {
  if (holder.host !== hostname()) {
    // Pids of another host (or container) cannot be checked: its heartbeat tells.
    try {
      return Date.now() - statSync(file).mtimeMs < FOREIGN_STALE_MS;
    } catch {
      return false;
    }
  }
  if (holder.pid === process.pid) {
    // This process (another app not closed yet), or a former process with
    // the same pid, e.g. pid 1 of a restarted container.
    return holder.startedAt === processStartedAt;
  }
  try {
    process.kill(holder.pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return false;
  }
  // Running, unless the pid now belongs to a process started later.
  const start = procStart(holder.pid);
  return !(holder.procStart && start && start !== holder.procStart);
}

function isYoung(file: string): boolean {
  try {
    return Date.now() - statSync(file).mtimeMs < UNREADABLE_GRACE_MS;
  } catch {
    return false;
  }
}

/** Field 22 of /proc/<pid>/stat (Linux); undefined elsewhere. */
function procStart(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

function readOrNull(file: string): string | null {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}

function parse(text: string): JournalHolder | undefined {
  try {
    const holder = JSON.parse(text) as JournalHolder;
    return typeof holder?.pid === 'number' && typeof holder.token === 'string' ? holder : undefined;
  } catch {
    return undefined;
  }
}
