import { armFor } from '../../src/templates-store/arms';

// A series sees one arm for the whole of a variant: the split depends on the license key and
// the variant only, and halves a population of keys within binomial bounds.
describe('copy experiment arms', () => {
  const keys = Array.from({ length: 10_000 }, (_, i) => `DWT-${(i * 7919).toString(36).toUpperCase()}-${i}`);

  it('assigns the same arm to a series every time', () => {
    const first = keys.map((k) => armFor(k, 'annual/en/30'));
    const again = keys.map((k) => armFor(k, 'annual/en/30'));
    expect(again).toEqual(first);
    // Fixed values: a change of the hash would move running experiments' customers between arms.
    // The rule: the first 4 bytes of sha256("<variant>\0<license key>") below 2^31 are A, else B.
    expect(['KEY-1', 'KEY-2', 'KEY-3', 'KEY-4'].map((k) => armFor(k, 'annual/en/30'))).toEqual(['A', 'B', 'A', 'B']);
    expect(['KEY-1', 'KEY-2'].map((k) => armFor(k, 'maintenance/de/7'))).toEqual(['A', 'A']);
  });

  it('splits 10,000 keys within 3.5 standard deviations of half, for each of several variants', () => {
    // Binomial(10000, 0.5): sd = 50, so 5000 ± 175 fails a fair split with probability < 0.05 %.
    for (const variant of ['annual/en/30', 'annual/de/7', 'maintenance/en/expired']) {
      const b = keys.filter((k) => armFor(k, variant) === 'B').length;
      expect({ variant, b: Math.abs(b - 5000) <= 175 }).toEqual({ variant, b: true });
    }
  });

  it('draws the arms of two variants independently', () => {
    // Same arm in both variants for about half of the keys (not all: one customer is not always B).
    const same = keys.filter((k) => armFor(k, 'annual/en/30') === armFor(k, 'annual/en/14')).length;
    expect(Math.abs(same - 5000)).toBeLessThanOrEqual(175);
  });
});
