import { compile } from 'html-to-text';

/**
 * The plain-text part, made from the filled HTML so both parts always say the same thing.
 * Links show their URL in angle brackets; `mailto:` links show the bare address once.
 */
const convert = compile({
  wordwrap: 78,
  baseElements: { selectors: ['div.email'], returnDomByDefault: true },
  selectors: [
    {
      selector: 'a',
      options: {
        linkBrackets: ['<', '>'],
        hideLinkHrefIfSameAsText: true,
        // html-to-text has already dropped "mailto:"; drop the ?subject=… of a mailto link too.
        pathRewrite: (href: string, _meta: unknown, elem?: { attribs?: Record<string, string> }) =>
          /^mailto:/i.test(elem?.attribs?.href ?? '') ? href.replace(/\?.*$/, '') : href,
      },
    },
    // Each mj-text is a div: a blank line between them reads like paragraphs.
    { selector: 'div', format: 'block', options: { leadingLineBreaks: 2, trailingLineBreaks: 2 } },
    { selector: 'div.item-line', format: 'block', options: { leadingLineBreaks: 1, trailingLineBreaks: 1 } },
    { selector: 'table.item', format: 'block', options: { leadingLineBreaks: 2, trailingLineBreaks: 2 } },
    { selector: 'img', format: 'skip' },
    { selector: 'h1', options: { uppercase: false } },
    { selector: 'h2', options: { uppercase: false } },
    { selector: '.text-hidden', format: 'skip' },
  ],
});

export function htmlToPlainText(html: string): string {
  return `${convert(html).replace(/\n{3,}/g, '\n\n').trim()}\n`;
}
