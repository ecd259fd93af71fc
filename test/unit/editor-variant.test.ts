import { parseVariant } from '../../src/console/editor-data';

const OFFSETS = [90, 60, 30, 14, 7, 0];

describe('the variant a console form names', () => {
  it.each([
    ['annual/en/30', { family: 'annual', locale: 'en', variant: 30 }],
    ['maintenance/de/0', { family: 'maintenance', locale: 'de', variant: 0 }],
    ['annual/fr-CA/expired', { family: 'annual', locale: 'fr-CA', variant: 'expired' }],
  ])('reads %s', (value, expected) => {
    expect(parseVariant(value, OFFSETS)).toEqual(expected);
  });

  it.each(['annual/en/45', 'annual/en/-1', 'lifetime/en/30', 'annual/../30', 'annual/en', 'annual/en/30/B', '', 'annual/e/30', 'annual/en/030x'])('refuses %j', (value) => {
    expect(parseVariant(value, OFFSETS)).toBeNull();
  });
});
