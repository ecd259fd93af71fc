import { checkHandlebars, checkTagBalance } from '../../src/render/template-lint';
import { parseCopyFile, pickBlock } from '../../src/render/template-source';

const at = (line: number) => ({ file: 'x.mjml', line });

describe('tag balance (MJML swallows unclosed tags silently)', () => {
  it('accepts balanced, self-closing and void tags, and ignores comments and placeholders', () => {
    const source = '<mj-section>\n<mj-column>\n<mj-image src="a" />\n<mj-text>a<br>b <!-- <mj-text> --> {{#if x}}<b>y</b>{{/if}}</mj-text>\n</mj-column>\n</mj-section>';
    expect(checkTagBalance(source, at)).toEqual([]);
  });

  it('reports an unclosed tag at its line, and a stray closing tag', () => {
    const source = '<mj-column>\n<mj-text>never closed\n</mj-column>\n</mj-text>';
    expect(checkTagBalance(source, at)).toEqual([
      { file: 'x.mjml', line: 2, message: '<mj-text> is not closed before </mj-column>' },
      { file: 'x.mjml', line: 4, message: '</mj-text> closes a tag that was never opened' },
    ]);
  });
});

describe('Handlebars placeholders', () => {
  it('accepts known variables, #each items with item fields, and plural', () => {
    const source = '{{contactName}} {{links.renew}} {{#each items}}{{product}} {{@index}} {{../salesEmail}} {{plural daysLeft one="# day" other="# days"}}{{/each}}';
    expect(checkHandlebars(source, at)).toEqual([]);
  });

  it('reports unknown variables (with a suggestion), helpers, unescaped output and partials', () => {
    const source = '{{contactNmae}}\n{{links.home}}\n{{uppercase product}}\n{{{product}}}\n{{> footer}}\n{{licenseKey}}';
    const messages = checkHandlebars(source, at).map((p) => `${p.line}: ${p.message}`);
    expect(messages).toEqual([
      '1: unknown variable "contactNmae" (did you mean "contactName"?)',
      '2: unknown variable "links.home" (known: links.renew, links.upcomingRenewals, links.unsubscribe)',
      '3: unknown helper "uppercase" (known: plural)',
      '4: unescaped output {{{…}}} is not allowed: use {{…}}, which escapes HTML',
      '5: Handlebars partials {{> …}} are not supported: use <mj-include path="…"/>',
      '6: "licenseKey" is a value of each license: use it inside {{#each items}} … {{/each}} (outside the loop there is no single license to take it from)',
    ]);
  });

  it('reports a syntax error at its line', () => {
    const [problem] = checkHandlebars('ok\n{{#if single}oops{{/if}}', at);
    expect(problem?.line).toBe(2);
    expect(problem?.message).toMatch(/Handlebars cannot read/);
  });
});

describe('plural forms per language (Intl.PluralRules)', () => {
  const inFile = (file: string) => (line: number) => ({ file, line });

  it('asks a copy file for every form its language uses for a number of days', () => {
    // Polish: 1 dzień, 2 dni, 5 dni (one, few, many); Russian likewise; Arabic has six forms.
    const pl = checkHandlebars('{{plural daysLeft one="# dzień" other="# dni"}}', inFile('annual/pl.mjml'));
    expect(pl.map((p) => p.message)).toEqual([expect.stringMatching(/^plural in "pl" needs many="…" and few="…" too: "pl" uses "many" for 0, 5, 6…, "few" for 2, 3, 4…/)]);
    expect(checkHandlebars('{{plural daysLeft one="# день" few="# дня" many="# дней" other="# дня"}}', inFile('common/ru.mjml'))).toEqual([]);
    // French counts 0 and 1 as one; English copy needs one; Japanese only other.
    expect(checkHandlebars('{{plural daysLeft other="# jours"}}', inFile('maintenance/fr-CA.mjml')).map((p) => p.message)).toEqual([
      expect.stringMatching(/^plural in "fr-CA" needs one="…" too: "fr-CA" uses "one" for 0, 1…/),
    ]);
    expect(checkHandlebars('{{plural daysLeft other="# days"}}', inFile('annual/en.mjml'))).toHaveLength(1);
    expect(checkHandlebars('{{plural daysLeft other="#日"}}', inFile('annual/ja.mjml'))).toEqual([]);
    // zero="…" covers a form used only for 0 (Latvian); layout and partials name no language.
    expect(checkHandlebars('{{plural daysLeft zero="šodien" one="# diena" other="# dienas"}}', inFile('annual/lv.mjml'))).toEqual([]);
    expect(checkHandlebars('{{plural daysLeft other="# days"}}', inFile('partials/footer.mjml'))).toEqual([]);
  });
});

describe('copy files', () => {
  const text = 'A comment.\n\n## subject\nDefault\n\n## subject 30\nThirty\n## subject expired\nGone\n## bad heading!\nx';

  it('splits blocks and remembers their first line', () => {
    const { copy, problems } = parseCopyFile('annual/en.mjml', text);
    expect(copy.blocks.map((b) => [b.name, b.key, b.text, b.line])).toEqual([
      ['subject', null, 'Default', 4],
      ['subject', '30', 'Thirty', 7],
      ['subject', 'expired', 'Gone', 9],
    ]);
    expect(problems).toEqual([{ file: 'annual/en.mjml', line: 10, message: expect.stringMatching(/malformed block heading/) }]);
  });

  it('picks the offset block, else the default one', () => {
    const { copy } = parseCopyFile('annual/en.mjml', text);
    expect(pickBlock([copy], 'subject', 30)?.text).toBe('Thirty');
    expect(pickBlock([copy], 'subject', 60)?.text).toBe('Default');
    expect(pickBlock([copy], 'subject', 'expired')?.text).toBe('Gone');
    expect(pickBlock([copy], 'intro', 30)).toBeNull();
  });
});
