import fc from 'fast-check';
import { finishPlainText } from '../../src/render/html-to-plain-text';
import { createHandlebars } from '../../src/render/template-data';

/** The wrap as first written (split into words, join them again): the reference for the faster one. */
function wrapByWords(line: string): string {
  if (line.length <= 78) return line;
  const out: string[] = [];
  let current = '';
  for (const word of line.split(' ')) {
    if (word === '') continue;
    if (current && current.length + 1 + word.length > 78) {
      out.push(current);
      current = word;
    } else current = current ? `${current} ${word}` : word;
  }
  out.push(current);
  return out.join('\n');
}
const reference = (filled: string) => {
  const text = `${filled.replace(/ {2,}/g, ' ').replace(/ \n|\n /g, '\n').replace(/\n{3,}/g, '\n\n').trim()}\n`;
  return text.split('\n').map(wrapByWords).join('\n');
};

describe('the plain-text part', () => {
  it('wraps like html-to-text: greedy at spaces, at 78 columns, long words whole', () => {
    const words = ['a', 'renew', 'https://portal.example.com/renew?keys=K-1,K-2,K-3,K-4,K-5,K-6,K-7,K-8,K-9,K-10,K-11,K-12', 'x'.repeat(78), 'y'.repeat(77)];
    const text = fc.array(fc.oneof(fc.constantFrom(...words), fc.constantFrom(' ', '  ', '\n', '\n\n\n', ' \n ')), { maxLength: 80 }).map((parts) => parts.join(' '));
    fc.assert(
      fc.property(text, (filled) => {
        expect(finishPlainText(filled)).toBe(reference(filled));
      }),
      { numRuns: 2000 },
    );
  });

  it('breaks a long line before the word that would pass column 78', () => {
    const line = `${'word '.repeat(20)}end`;
    expect(finishPlainText(line)).toBe(`${'word '.repeat(15).trimEnd()}\n${'word '.repeat(5)}end\n`);
  });
});

describe('the plural helper', () => {
  const render = (source: string, lang: string, days: number) => createHandlebars().compile(source)({ lang, days });

  it('picks the form and formats the number for the locale, also when asked again', () => {
    const source = '{{plural days one="# day" other="# days"}}';
    for (let round = 0; round < 2; round++) {
      expect(render(source, 'en', 1)).toBe('1 day');
      expect(render(source, 'en', 1234)).toBe('1,234 days');
      expect(render(source, 'de', 1234)).toBe('1.234 days');
      expect(render('{{plural days one="# Tag" other="# Tage"}}', 'de', 1)).toBe('1 Tag');
      expect(render('{{plural days one="# den" few="# dny" other="# dní"}}', 'cs', 3)).toBe('3 dny');
      expect(render('{{plural days zero="today" one="# day" other="# days"}}', 'en', 0)).toBe('today');
    }
  });
});
