import Handlebars from 'handlebars';
import type { Origin } from './template-source';
import type { TemplateProblem } from './template-problem';

/**
 * Checks MJML cannot make: MJML silently swallows an unclosed tag, and Handlebars only notices
 * an unknown variable when a real email is filled. Both are caught here, with their file:line.
 */

/** Variables a template may use, by scope. Keep in step with `template-data.ts` and templates/README.md. */
export const ROOT_VARIABLES: Readonly<Record<string, readonly string[] | null>> = {
  lang: null,
  subject: null,
  contactName: null,
  recipient: null,
  kind: null,
  offset: null,
  expired: null,
  daysLeft: null,
  daysSinceExpiry: null,
  expiresOn: null,
  itemCount: null,
  single: null,
  product: null,
  items: null,
  links: ['renew', 'upcomingRenewals', 'unsubscribe'],
  salesEmail: null,
  supportEmail: null,
};

export const ITEM_VARIABLES: readonly string[] = [
  'product',
  'licenseKey',
  'orderNumber',
  'customerName',
  'expiresOn',
  'daysLeft',
  'daysSinceExpiry',
  'expired',
];

/** Helpers registered by the renderer besides Handlebars' if / unless / each. */
export const HELPERS: readonly string[] = ['plural'];

const VOID_TAGS = new Set(['area', 'base', 'br', 'col', 'embed', 'hr', 'img', 'input', 'link', 'meta', 'source', 'track', 'wbr']);

type Locate = (line: number) => Origin;

const blank = (text: string) => text.replace(/[^\n]/g, ' ');

/** Reports tags that are opened and never closed, or closed without being opened. */
export function checkTagBalance(source: string, locate: Locate): TemplateProblem[] {
  const problems: TemplateProblem[] = [];
  const text = source.replace(/<!--[\s\S]*?-->/g, blank).replace(/\{\{[\s\S]*?\}\}/g, blank);
  const lineAt = (() => {
    const starts = [0];
    for (let i = 0; i < text.length; i += 1) if (text[i] === '\n') starts.push(i + 1);
    return (index: number) => {
      let lo = 0;
      let hi = starts.length - 1;
      while (lo < hi) {
        const mid = (lo + hi + 1) >> 1;
        if (starts[mid]! <= index) lo = mid;
        else hi = mid - 1;
      }
      return lo + 1;
    };
  })();
  const at = (line: number, message: string) => {
    const origin = locate(line);
    problems.push({ file: origin.file, line: origin.line, message });
  };
  const open: { name: string; line: number }[] = [];
  for (const match of text.matchAll(/<(\/?)([a-zA-Z][\w:-]*)\b((?:[^>"']|"[^"]*"|'[^']*')*)>/g)) {
    const [, closing, rawName = '', rest = ''] = match;
    const name = rawName.toLowerCase();
    const line = lineAt(match.index);
    if (closing) {
      const index = open.map((o) => o.name).lastIndexOf(name);
      if (index === -1) {
        at(line, `</${name}> closes a tag that was never opened`);
        continue;
      }
      for (const unclosed of open.splice(index).slice(1).reverse()) {
        at(unclosed.line, `<${unclosed.name}> is not closed before </${name}>`);
      }
      continue;
    }
    if (rest.trimEnd().endsWith('/') || VOID_TAGS.has(name)) continue;
    open.push({ name, line });
  }
  for (const unclosed of open.reverse()) at(unclosed.line, `<${unclosed.name}> is never closed`);
  return problems;
}

interface Scope {
  names: readonly string[];
  parent: Scope | null;
  inEach: boolean;
}

const ROOT_SCOPE: Scope = { names: Object.keys(ROOT_VARIABLES), parent: null, inEach: false };

/**
 * Parses Handlebars and checks every variable and helper against the known lists.
 * Returns the problems; `{{{ }}}` (unescaped output) and partials are refused.
 */
export function checkHandlebars(source: string, locate: Locate, options: { exclude?: readonly string[] } = {}): TemplateProblem[] {
  const problems: TemplateProblem[] = [];
  const at = (line: number, message: string) => {
    const origin = locate(line);
    problems.push({ file: origin.file, line: origin.line, message });
  };
  let ast: hbs.AST.Program;
  try {
    ast = Handlebars.parse(source);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const line = /line (\d+)/.exec(message)?.[1];
    const lines = message.split('\n');
    const excerpt = lines.length >= 3 ? lines[1]!.trim() : '';
    const expected = lines.slice(-1)[0] ?? message;
    at(
      line ? Number(line) : 1,
      excerpt
        ? `Handlebars cannot read "${excerpt}": check that every {{ has its }} and every {{#if}} its {{/if}}`
        : `Handlebars: ${expected.replace(/^Parse error on line \d+:\s*/, '').trim()}`,
    );
    return problems;
  }
  const exclude = new Set(options.exclude ?? []);
  const rootScope: Scope = { ...ROOT_SCOPE, names: ROOT_SCOPE.names.filter((n) => !exclude.has(n)) };

  const checkPath = (node: hbs.AST.PathExpression, scope: Scope) => {
    const line = node.loc.start.line;
    const original = node.original;
    if (node.data) {
      const [head, ...rest] = node.parts;
      if (head === 'root') return checkParts(rest, rootScope, line, original);
      if (['index', 'first', 'last'].includes(head ?? '') && scope.inEach && rest.length === 0) return;
      at(line, `unknown variable "${original}"`);
      return;
    }
    let target: Scope | null = scope;
    for (let d = 0; d < node.depth; d += 1) target = target?.parent ?? null;
    if (!target) {
      at(line, `"${original}" goes up more levels than there are`);
      return;
    }
    if (node.parts.length === 0) {
      at(line, `"${original}" is not a value that can be shown: name a variable`);
      return;
    }
    checkParts(node.parts, target, line, original);
  };

  const checkParts = (parts: readonly string[], scope: Scope, line: number, original: string) => {
    const [head, ...rest] = parts;
    if (!head || !scope.names.includes(head)) {
      at(line, `${unknownOrElsewhere(head ?? '', original, scope)}${suggest(head ?? '', scope)}`);
      return;
    }
    if (rest.length === 0) return;
    const children = scope === rootScope || scope.parent === null ? ROOT_VARIABLES[head] : null;
    if (!children || rest.length !== 1 || !children.includes(rest[0]!)) {
      at(line, `unknown variable "${original}"${children ? ` (known: ${children.map((c) => `${head}.${c}`).join(', ')})` : ''}`);
    }
  };

  const checkValue = (node: hbs.AST.Expression, scope: Scope) => {
    if (node.type === 'PathExpression') checkPath(node as hbs.AST.PathExpression, scope);
    else if (node.type === 'SubExpression') checkCall(node as hbs.AST.SubExpression, scope);
  };

  const checkArgs = (node: { params: hbs.AST.Expression[]; hash?: hbs.AST.Hash }, scope: Scope) => {
    for (const param of node.params) checkValue(param, scope);
    for (const pair of node.hash?.pairs ?? []) checkValue(pair.value, scope);
  };

  const checkCall = (node: hbs.AST.MustacheStatement | hbs.AST.SubExpression, scope: Scope) => {
    const path = node.path as hbs.AST.PathExpression;
    const line = node.loc.start.line;
    const hasArgs = node.params.length > 0 || (node.hash?.pairs.length ?? 0) > 0;
    if (path.type !== 'PathExpression') {
      at(line, 'a literal cannot be shown on its own');
      return;
    }
    if (!hasArgs && node.type === 'MustacheStatement') {
      checkPath(path, scope);
      return;
    }
    if (!HELPERS.includes(path.original)) {
      at(line, `unknown helper "${path.original}" (known: ${HELPERS.join(', ')})`);
      return;
    }
    if (path.original === 'plural') {
      const keys = (node.hash?.pairs ?? []).map((p) => p.key);
      if (node.params.length !== 1 || !keys.includes('other')) {
        at(line, 'plural needs a number and at least other="…": {{plural daysLeft one="# day" other="# days"}}');
      } else {
        const missing = missingPluralForms(locate(line).file, keys);
        if (missing) at(line, missing);
      }
    }
    checkArgs(node, scope);
  };

  const visit = (program: hbs.AST.Program | undefined, scope: Scope) => {
    for (const statement of program?.body ?? []) {
      switch (statement.type) {
        case 'MustacheStatement': {
          const node = statement as hbs.AST.MustacheStatement;
          if (!node.escaped) {
            at(node.loc.start.line, 'unescaped output {{{…}}} is not allowed: use {{…}}, which escapes HTML');
          }
          checkCall(node, scope);
          break;
        }
        case 'BlockStatement': {
          const node = statement as hbs.AST.BlockStatement;
          const path = node.path as hbs.AST.PathExpression;
          const line = node.loc.start.line;
          const name = path.original;
          if (name === 'if' || name === 'unless') {
            if (node.params.length !== 1) at(line, `{{#${name}}} takes exactly one value`);
            checkArgs(node, scope);
            visit(node.program, scope);
            visit(node.inverse, scope);
          } else if (name === 'each') {
            const param = node.params[0] as hbs.AST.PathExpression | undefined;
            if (node.params.length !== 1 || param?.type !== 'PathExpression' || param.original.replace(/^@root\./, '') !== 'items') {
              at(line, '{{#each}} can only list the items: {{#each items}} … {{/each}}');
              visit(node.program, scope);
            } else {
              checkPath(param, scope);
              visit(node.program, { names: ITEM_VARIABLES, parent: scope, inEach: true });
            }
            visit(node.inverse, scope);
          } else {
            at(line, `unknown block helper "{{#${name}}}" (use #if, #unless or #each items)`);
          }
          break;
        }
        case 'PartialStatement':
        case 'PartialBlockStatement':
          at(statement.loc.start.line, 'Handlebars partials {{> …}} are not supported: use <mj-include path="…"/>');
          break;
        case 'DecoratorBlock':
        case 'Decorator':
          at(statement.loc.start.line, 'Handlebars decorators are not supported');
          break;
        default:
          break;
      }
    }
  };
  visit(ast, rootScope);
  return problems;
}

/**
 * "unknown variable", unless the name exists in the other scope: `{{customerName}}` is one of each
 * license's values, so outside `{{#each items}}` it needs the loop, not a different name.
 */
function unknownOrElsewhere(head: string, original: string, scope: Scope): string {
  if (!scope.inEach && ITEM_VARIABLES.includes(head)) {
    return `"${original}" is a value of each license: use it inside {{#each items}} … {{/each}} (outside the loop there is no single license to take it from)`;
  }
  if (scope.inEach && Object.keys(ROOT_VARIABLES).includes(head)) {
    return `"${original}" belongs to the whole email, not to one license: inside {{#each items}} write {{@root.${original}}}`;
  }
  return `unknown variable "${original}"`;
}

function suggest(name: string, scope: Scope): string {
  const lower = name.toLowerCase();
  const close = scope.names.find((n) => n.toLowerCase() === lower || distance(n.toLowerCase(), lower) <= 2);
  return close ? ` (did you mean "${close}"?)` : '';
}

function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i += 1) {
    let previous = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j += 1) {
      const current = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
      previous = current;
    }
  }
  return row[b.length]!;
}

/** The language a copy file is written in, from its name (`annual/fr-CA.mjml` → 'fr-CA'); null for layout and partials. */
function copyLanguage(file: string): string | null {
  const match = /^(?:annual|maintenance|common)\/([A-Za-z]{2,3}(?:-[A-Za-z0-9]+)*)\.mjml$/.exec(file);
  return match ? match[1]! : null;
}

/** Plural categories a language uses for a number of days (0 to 10 years), with examples, by Intl.PluralRules. */
const pluralCategories = new Map<string, Map<string, number[]>>();
function categoriesOf(language: string): Map<string, number[]> {
  let categories = pluralCategories.get(language);
  if (!categories) {
    categories = new Map();
    let rules: Intl.PluralRules;
    try {
      rules = new Intl.PluralRules(language);
    } catch {
      rules = new Intl.PluralRules('en');
    }
    for (let n = 0; n <= 3650; n += 1) {
      const category = rules.select(n);
      const examples = categories.get(category) ?? [];
      if (examples.length < 3) examples.push(n);
      categories.set(category, examples);
    }
    pluralCategories.set(language, categories);
  }
  return categories;
}

/**
 * `{{plural}}` in a copy file must give every form its language uses for a number of days: Polish
 * says "2 dni" and "5 dni" (few, many), and a missing form would read other="…" instead.
 */
function missingPluralForms(file: string, keys: readonly string[]): string | null {
  const language = copyLanguage(file);
  if (!language) return null;
  const missing = [...categoriesOf(language)].filter(([category, examples]) => {
    if (category === 'other' || keys.includes(category)) return false;
    // zero="…" covers 0 in any language.
    return !(keys.includes('zero') && examples.every((n) => n === 0));
  });
  if (missing.length === 0) return null;
  return `plural in "${language}" needs ${missing.map(([c]) => `${c}="…"`).join(' and ')} too: "${language}" uses ${missing
    .map(([c, examples]) => `"${c}" for ${examples.join(', ')}…`)
    .join(', ')} (without it those numbers read the other="…" form)`;
}
