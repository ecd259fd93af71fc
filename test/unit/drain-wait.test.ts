import { describeWait, sayEvery } from '../../src/cli/commands/work';

describe("a drain's waiting line", () => {
  const wait = (nextInMs: number, now: number) => ({
    delayed: 3,
    nextRetryAt: new Date(now + nextInMs),
    lastError: 'connect ECONNREFUSED 127.0.0.1:2525',
    attemptsMade: 2,
    attempts: 25,
  });

  it('is said once, again when its reason changes, and again every 30 s while the wait goes on', () => {
    let clock = 0;
    const said: string[] = [];
    const say = sayEvery(30_000, (text) => said.push(text), () => clock);
    // Polled every 200 ms for a minute: the countdown changes, the reason does not.
    for (; clock <= 61_000; clock += 200) say(describeWait(wait(45_000 - (clock % 45_000), clock), clock));
    expect(said).toHaveLength(3);
    expect(said[0]).toMatch(/^waiting: 3 send\(s\) delayed for a retry after SMTP unreachable \(connect ECONNREFUSED 127\.0\.0\.1:2525\); next retry in 45 s/);
    // A different reason is said at once.
    say('waiting: 2 reminder(s) still sending under the lease of a worker that may have stopped; the lease expires in 9 s, then they are settled');
    expect(said).toHaveLength(4);
  });
});
