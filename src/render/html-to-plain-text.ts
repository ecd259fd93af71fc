import { compile, type HtmlToTextOptions } from 'html-to-text';

/** Lines of the plain-text part are wrapped at this width, as mail readers expect. */
const WIDTH = 78;

/**
 * The plain-text part, made from the HTML so both parts always say the same thing.
 * Links show their URL in angle brackets; `mailto:` links show the bare address once.
 */
const OPTIONS: HtmlToTextOptions = {
  wordwrap: WIDTH,
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
};
const convert = compile(OPTIONS);
// Unwrapped: lines of a template are wrapped only once filled, when their length is known.
const convertUnwrapped = compile({ ...OPTIONS, wordwrap: false });

const tidy = (text: string) => `${text.replace(/\n{3,}/g, '\n\n').trim()}\n`;

/** The plain-text part of one filled HTML email: ~1 ms for 20 KB (a full HTML parse). */
export function htmlToPlainText(html: string): string {
  return tidy(convert(html));
}

/**
 * The plain-text part as a template: the HTML template, Handlebars tags and all, converted once
 * per template version. Filled with the same (whitespace-collapsed) values and passed through
 * `finishPlainText`, it gives what `htmlToPlainText` gives for the filled HTML, for microseconds
 * per email instead of a parse of the whole HTML.
 */
export function plainTextTemplate(htmlTemplate: string): string {
  return convertUnwrapped(htmlTemplate);
}

/** Tidies and wraps a filled `plainTextTemplate` like html-to-text would: greedy, at spaces, long words whole. */
export function finishPlainText(filled: string): string {
  // Values join the text around them as HTML would: one space between words, none at line ends.
  const text = tidy(filled.replace(/ {2,}/g, ' ').replace(/ \n|\n /g, '\n'));
  return text.split('\n').map(wrapLine).join('\n');
}

/**
 * Greedy wrap at spaces, long words whole, by index rather than by splitting into words and
 * joining them again (that was a fifth of a render). `finishPlainText` has collapsed runs of
 * spaces, so a slice between two words is those words with single spaces, as a join would give.
 */
function wrapLine(line: string): string {
  if (line.length <= WIDTH) return line;
  let out = '';
  let from = -1;
  let to = -1;
  for (let i = 0; i < line.length; ) {
    if (line.charCodeAt(i) === 32) {
      i += 1;
      continue;
    }
    let end = line.indexOf(' ', i);
    if (end < 0) end = line.length;
    if (from < 0) from = i;
    else if (to - from + 1 + (end - i) > WIDTH) {
      out += `${line.slice(from, to)}\n`;
      from = i;
    }
    to = end;
    i = end;
  }
  return from < 0 ? out : out + line.slice(from, to);
}
