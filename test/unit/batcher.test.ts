import { Batcher } from '../../src/delivery/batcher';

/** The send path's group commit: concurrent calls share a run, each gets its own answer. */
function recording(keys: (n: number) => string[] = (n) => [String(n)]) {
  const runs: number[][] = [];
  const batcher = new Batcher<number, number>(
    async (requests) => {
      runs.push([...requests]);
      if (requests.includes(-1)) throw new Error('the statement failed');
      return requests.map((n) => n * 10);
    },
    { maxBatch: 3, windowMs: 1, maxInFlight: 2, keys },
  );
  return { runs, batcher };
}

it('calls made together share one run, at most maxBatch each, and each gets its own answer', async () => {
  const { runs, batcher } = recording();
  const answers = await Promise.all([1, 2, 3, 4, 5].map((n) => batcher.submit(n)));
  expect(answers).toEqual([10, 20, 30, 40, 50]);
  expect(runs[0]).toEqual([1, 2, 3]);
  expect(runs.flat().sort()).toEqual([1, 2, 3, 4, 5]);
  expect(runs.every((r) => r.length <= 3)).toBe(true);
});

it('calls with a key in common never share a run (one ledger row, one group per statement)', async () => {
  const { runs, batcher } = recording(() => ['same-group']);
  await Promise.all([1, 2, 3].map((n) => batcher.submit(n)));
  expect(runs).toEqual([[1], [2], [3]]);
});

it('a failed run fails each of its calls, and the next calls run again', async () => {
  const { batcher } = recording();
  const failed = await Promise.allSettled([batcher.submit(-1), batcher.submit(2)]);
  expect(failed.map((f) => f.status)).toEqual(['rejected', 'rejected']);
  expect((failed[0] as PromiseRejectedResult).reason.message).toBe('the statement failed');
  await expect(batcher.submit(7)).resolves.toBe(70);
});
