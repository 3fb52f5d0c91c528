/**
 * Thrown by a command's `decide` when its decision needs a fact that only a service outside the
 * store knows (Stripe's list of a customer's purchases, lib/stripe/customer-history.ts).
 * runCommand awaits `lookUp`, which remembers the answer where `decide` finds it, and decides
 * again on the states it read: the look-up costs no second read and no second transaction.
 * Nothing has been written when it is thrown; a failing look-up fails the command.
 */
export class LookupNeeded extends Error {
  constructor(
    what: string,
    readonly lookUp: () => Promise<void>,
  ) {
    super(`${what} needs a look-up outside the store`);
    this.name = 'LookupNeeded';
  }
}

/** More look-ups than this for one decision is a bug in the command, not a slow service. */
const MAX_LOOKUPS_PER_DECISION = 4;

/** `decide(states)`, answering its look-ups first; its own errors pass through. */
export async function decideWithLookups<D>(decide: () => D): Promise<D> {
  for (let lookups = 0; ; lookups++) {
    try {
      return decide();
    } catch (error) {
      if (!(error instanceof LookupNeeded) || lookups >= MAX_LOOKUPS_PER_DECISION) throw error;
      await error.lookUp();
    }
  }
}

/**
 * A command's question to a service outside the store, asked at most once per command: the
 * answer is remembered across the runs of its `decide` (a lost race decides again, on states
 * read again, with the same answer). Asked from inside `decide`, it throws LookupNeeded until
 * the answer is in.
 */
export function askedOnce<Q, A>(
  ask: (question: Q) => Promise<A>,
  keyOf: (question: Q) => string,
  describe: (question: Q) => string,
): (question: Q) => A {
  const answers = new Map<string, A>();
  return (question) => {
    const key = keyOf(question);
    if (answers.has(key)) return answers.get(key) as A;
    throw new LookupNeeded(describe(question), async () => {
      answers.set(key, await ask(question));
    });
  };
}
