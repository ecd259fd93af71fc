import type { ConsoleRole } from '../db/types';
import { type Html, html } from './html';
import { CAN } from './users';

export interface PageContext {
  userName: string;
  role: ConsoleRole;
  csrfToken: string;
}

const STYLE = `
  *, *::before, *::after { box-sizing: border-box; }
  body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif; background: #f4f5f7; color: #1f2933; margin: 0; line-height: 1.45; }
  a { color: #1a56b0; }
  a:focus-visible, button:focus-visible, input:focus-visible, select:focus-visible, textarea:focus-visible, summary:focus-visible { outline: 3px solid #f0a202; outline-offset: 2px; }
  .skip { position: absolute; left: -999px; } .skip:focus { left: 1rem; top: 1rem; background: #fff; padding: .5rem; z-index: 10; }
  header { background: #1f2933; color: #fff; padding: .6rem 1rem; display: flex; flex-wrap: wrap; gap: .4rem 1.2rem; align-items: center; }
  header .brand { font-weight: 700; }
  header nav { display: flex; flex-wrap: wrap; gap: .2rem .9rem; }
  header nav a { color: #fff; text-decoration: none; padding: .2rem 0; }
  header nav a[aria-current="page"] { border-bottom: 2px solid #f0a202; }
  header .who { margin-left: auto; display: flex; gap: .6rem; align-items: center; font-size: .9rem; }
  header .who button { background: transparent; color: #fff; border: 1px solid #9aa5b1; padding: .25rem .6rem; }
  main { padding: 1rem; max-width: 72rem; margin: 0 auto; }
  h1 { font-size: 1.4rem; margin: .2rem 0 1rem; } h2 { font-size: 1.1rem; margin: 1.4rem 0 .6rem; }
  .cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(15rem, 1fr)); gap: .8rem; }
  .card { background: #fff; border-radius: 6px; padding: .8rem 1rem; box-shadow: 0 1px 2px rgba(0,0,0,.1); min-width: 0; }
  .card h2 { margin-top: 0; font-size: 1rem; }
  .big { font-size: 1.6rem; font-weight: 700; }
  .strip { display: flex; flex-wrap: wrap; gap: .5rem; margin-bottom: 1rem; list-style: none; padding: 0; }
  .strip li { background: #fff; border-radius: 999px; padding: .25rem .8rem; box-shadow: 0 1px 2px rgba(0,0,0,.1); }
  .ok { color: #1e7b34; } .bad { color: #b42318; } .warn { color: #9a6700; }
  .table-wrap { overflow-x: auto; background: #fff; border-radius: 6px; box-shadow: 0 1px 2px rgba(0,0,0,.1); }
  table { border-collapse: collapse; width: 100%; font-size: .9rem; }
  th, td { text-align: left; padding: .4rem .6rem; border-bottom: 1px solid #e4e7eb; vertical-align: top; }
  th { background: #f0f2f5; white-space: nowrap; }
  td.reason { max-width: 28rem; overflow-wrap: anywhere; }
  .status { font-weight: 600; } .status-failed, .status-unknown { color: #b42318; } .status-sent { color: #1e7b34; } .status-pending, .status-sending { color: #9a6700; }
  form.filters { display: flex; flex-wrap: wrap; gap: .6rem; align-items: flex-end; margin-bottom: 1rem; }
  label { display: block; font-size: .85rem; font-weight: 600; margin-bottom: .2rem; }
  input, select, textarea { font: inherit; padding: .4rem .5rem; border: 1px solid #9aa5b1; border-radius: 4px; max-width: 100%; }
  button { font: inherit; background: #1a56b0; color: #fff; border: 0; border-radius: 4px; padding: .45rem 1rem; cursor: pointer; }
  button.danger { background: #b42318; }
  .actions { display: grid; grid-template-columns: repeat(auto-fit, minmax(16rem, 1fr)); gap: .8rem; }
  .actions form { background: #fff; padding: .8rem 1rem; border-radius: 6px; box-shadow: 0 1px 2px rgba(0,0,0,.1); }
  .actions textarea, .actions input[type=text] { width: 100%; }
  .field { margin-bottom: .6rem; }
  .notice { background: #e8f0fe; border-left: 4px solid #1a56b0; padding: .6rem .9rem; margin-bottom: 1rem; }
  .error { background: #fdecea; border-left: 4px solid #b42318; padding: .6rem .9rem; margin-bottom: 1rem; }
  .muted { color: #616e7c; font-size: .9rem; }
  dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .25rem 1rem; margin: 0; }
  dl.facts dt { font-weight: 600; } dl.facts dd { margin: 0; overflow-wrap: anywhere; }
  .chart { position: relative; height: 16rem; }
  iframe.email { width: 100%; height: 70vh; border: 1px solid #cbd2d9; background: #fff; }
  code { overflow-wrap: anywhere; }
  ul.plain { list-style: none; margin: 0; padding: 0; }
  main.wide { max-width: none; }
  .editor-grid { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); gap: 1rem; align-items: start; }
  @media (max-width: 70rem) { .editor-grid { grid-template-columns: minmax(0, 1fr); } }
  .editor-grid > section { background: #fff; border-radius: 6px; padding: .4rem 1rem 1rem; box-shadow: 0 1px 2px rgba(0,0,0,.1); min-width: 0; }
  .code-editor { border: 1px solid #9aa5b1; border-radius: 4px; height: 28rem; overflow: hidden; }
  .code-editor .cm-editor { height: 100%; }
  input.wide { width: 100%; }
  .label { display: block; font-size: .85rem; font-weight: 600; margin-bottom: .2rem; }
  ul.blocks { list-style: none; display: flex; flex-wrap: wrap; gap: .3rem .8rem; padding: 0; margin: 0; }
  button.link { background: none; color: #1a56b0; padding: 0; text-decoration: underline; }
  button.secondary { background: #fff; color: #1a56b0; border: 1px solid #1a56b0; }
  button:disabled, button.secondary:disabled { background: #9aa5b1; color: #fff; border-color: #9aa5b1; cursor: not-allowed; }
  .buttons { display: flex; flex-wrap: wrap; gap: .6rem; }
  ul.problems { margin: 0; padding-left: 1.2rem; color: #b42318; }
  .previews { display: flex; gap: .8rem; align-items: flex-start; }
  .previews figure { margin: 0; } .previews figure:first-child { flex: 1; min-width: 0; }
  iframe.preview-desktop { width: 100%; height: 36rem; border: 1px solid #cbd2d9; background: #fff; }
  iframe.preview-mobile { width: 375px; height: 36rem; border: 1px solid #cbd2d9; background: #fff; }
  pre.preview-text { white-space: pre-wrap; background: #f8f9fa; border: 1px solid #e4e7eb; padding: .6rem; max-height: 20rem; overflow: auto; font-size: .85rem; }
  pre.diff { background: #fff; padding: .8rem; overflow-x: auto; font-size: .85rem; box-shadow: 0 1px 2px rgba(0,0,0,.1); }
  pre.diff .add { background: #e6f4ea; color: #1e7b34; } pre.diff .del { background: #fdecea; color: #b42318; } pre.diff .hunk { color: #616e7c; }
`;

const NAV = [
  ['today', '/console', 'Today'],
  ['activity', '/console/activity', 'Activity'],
  ['reminders', '/console/reminders', 'Reminders'],
  ['templates', '/console/templates', 'Templates'],
  ['outcomes', '/console/outcomes', 'Outcomes'],
  ['unreachable', '/console/unreachable', 'Unreachable'],
] as const;

export type Section = (typeof NAV)[number][0] | 'queues' | 'none';

/** A console page: navigation, the signed-in person with a sign-out button, then `body`. */
export function page(ctx: PageContext, options: { title: string; section: Section; refreshSeconds?: number; scripts?: string[]; wide?: boolean }, body: Html): string {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
${options.refreshSeconds ? html`<meta http-equiv="refresh" content="${options.refreshSeconds}">` : ''}
<title>${options.title} · Renewal reminders console</title>
<style>${STYLE}</style>
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header>
  <span class="brand">Renewal reminders</span>
  <nav aria-label="Console">
    ${NAV.map(([key, href, label]) => html`<a href="${href}"${key === options.section ? html` aria-current="page"` : ''}>${label}</a>`)}
    ${CAN.queueDashboard(ctx.role) ? html`<a href="/admin/queues">Queues (Bull Board)</a>` : ''}
  </nav>
  <div class="who">
    <span>${ctx.userName} (${ctx.role})</span>
    <form method="post" action="/console/logout"><input type="hidden" name="_csrf" value="${ctx.csrfToken}"><button type="submit">Sign out</button></form>
  </div>
</header>
<main id="main"${options.wide ? html` class="wide"` : ''}>
<h1>${options.title}</h1>
${body}
</main>
${(options.scripts ?? []).map((src) => html`<script src="${src}"></script>`)}
</body>
</html>
`.value;
}

/** The sign-in page: the only console page that answers signed out. */
export function signInPage(options: { error?: string; next?: string; loginToken: string }): string {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>Sign in · Renewal reminders console</title>
<style>${STYLE} main { max-width: 24rem; margin: 12vh auto; background: #fff; border-radius: 8px; padding: 1.5rem; box-shadow: 0 1px 3px rgba(0,0,0,.12); } input { width: 100%; }</style>
</head>
<body>
<main id="main">
<h1>Renewal reminders console</h1>
${options.error ? html`<p class="error" role="alert">${options.error}</p>` : ''}
<form method="post" action="/console/login">
  <input type="hidden" name="_login" value="${options.loginToken}">
  <input type="hidden" name="next" value="${options.next ?? '/console'}">
  <div class="field"><label for="user">User name</label><input id="user" name="user" autocomplete="username" required autofocus></div>
  <div class="field"><label for="password">Password</label><input id="password" name="password" type="password" autocomplete="current-password" required></div>
  <button type="submit">Sign in</button>
</form>
<p class="muted">Accounts: <code>reminders users add NAME --role viewer|operator|marketing|admin</code> on the server.</p>
</main>
</body>
</html>
`.value;
}
