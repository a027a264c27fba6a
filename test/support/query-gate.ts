import {
  EventSubscriber,
  type BeforeQueryEvent,
  type EntitySubscriberInterface,
  type TransactionCommitEvent,
} from 'typeorm';

interface Hold {
  when: 'query' | 'commit';
  pattern?: RegExp;
  reached: () => void;
  released: Promise<void>;
}

const holds: Hold[] = [];

/**
 * Pauses real database work at a chosen point so tests can race it: before
 * a statement matching a pattern, or right after a transaction commits
 * (the moment between a flush's commit and its ack).
 */
@EventSubscriber()
export class QueryGate implements EntitySubscriberInterface {
  async beforeQuery(event: BeforeQueryEvent) {
    const hold = holds.find((h) => h.when === 'query' && h.pattern!.test(event.query));
    if (hold) await pass(hold);
  }

  async afterTransactionCommit(_event: TransactionCommitEvent) {
    const hold = holds.find((h) => h.when === 'commit');
    if (hold) await pass(hold);
  }
}

async function pass(hold: Hold) {
  holds.splice(holds.indexOf(hold), 1);
  hold.reached();
  await hold.released;
}

/**
 * Holds the next matching point. `reached` resolves when the database work
 * arrives there; it waits until `release()`.
 */
export function holdAt(when: 'query' | 'commit', pattern?: RegExp) {
  let release!: () => void;
  let reached!: () => void;
  const hold: Hold = {
    when,
    pattern,
    released: new Promise<void>((resolve) => (release = resolve)),
    reached: () => reached(),
  };
  const arrived = new Promise<void>((resolve) => (reached = resolve));
  holds.push(hold);
  return { reached: arrived, release };
}
