// The template editor in the browser: CodeMirror 6 for the markup, a subject field bound to the
// variant's subject block, a preview rendered by the server as you type (debounced), and the
// server's problems shown at their line. Bundled by esbuild from node_modules when the console
// first serves it (src/console/editor-bundle.ts); nothing is fetched from elsewhere.
import { basicSetup } from 'codemirror';
import { EditorView } from '@codemirror/view';
import { EditorState } from '@codemirror/state';
import { html } from '@codemirror/lang-html';
import { lintGutter, setDiagnostics } from '@codemirror/lint';

const data = JSON.parse(document.getElementById('editor-data').textContent);
const form = document.getElementById('edit-form');
const filesField = document.getElementById('files-field');
const fileSelect = document.getElementById('file-select');
const subjectField = document.getElementById('subject-field');
const problemsList = document.getElementById('problems');
const problemsSummary = document.getElementById('problems-summary');
const previewArea = document.getElementById('preview');
const licenseField = document.getElementById('preview-license');
const publishButton = document.getElementById('publish-button');
const testButton = document.getElementById('send-test-button');
const testStatus = document.getElementById('send-test-status');

const files = Object.assign({}, data.files);
let current = data.fileOrder[0];
let problems = [];
let syncing = false;

function blockRange(text, heading) {
  const lines = text.split('\n');
  const start = lines.findIndex((line) => line.trim() === heading);
  if (start < 0) return null;
  let end = start + 1;
  while (end < lines.length && !/^##(\s|$)/.test(lines[end])) end++;
  while (end > start + 1 && lines[end - 1].trim() === '') end--;
  return { lines, from: start + 1, to: end };
}

function readSubject() {
  if (!data.subject) return '';
  const range = blockRange(files[data.subject.file] || '', data.subject.heading);
  return range ? range.lines.slice(range.from, range.to).join('\n') : '';
}

function writeSubject(value) {
  if (!data.subject) return;
  const text = files[data.subject.file] || '';
  const range = blockRange(text, data.subject.heading);
  if (!range) return;
  range.lines.splice(range.from, range.to - range.from, value.replace(/\r?\n/g, ' '));
  files[data.subject.file] = range.lines.join('\n');
  if (current === data.subject.file) {
    syncing = true;
    view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: files[current] } });
    syncing = false;
  }
}

function stateFor(name) {
  return EditorState.create({
    doc: files[name],
    extensions: [
      basicSetup,
      html(),
      EditorView.lineWrapping,
      lintGutter(),
      EditorState.readOnly.of(!data.editable),
      EditorView.editable.of(data.editable),
      EditorView.contentAttributes.of({ 'aria-label': 'Markup of ' + name }),
      EditorView.updateListener.of((update) => {
        if (!update.docChanged) return;
        files[current] = update.state.doc.toString();
        if (syncing) return changed();
        if (data.subject && current === data.subject.file && document.activeElement !== subjectField) subjectField.value = readSubject();
        changed();
      }),
    ],
  });
}

const view = new EditorView({ state: stateFor(current), parent: document.getElementById('code-editor') });

function showFile(name, heading) {
  if (name !== current) {
    current = name;
    fileSelect.value = name;
    view.setState(stateFor(name));
    showDiagnostics();
  }
  if (heading) {
    const text = view.state.doc.toString();
    const at = text.split('\n').findIndex((line) => line.trim() === heading);
    if (at >= 0) {
      const line = view.state.doc.line(at + 1);
      view.dispatch({ selection: { anchor: line.from, head: line.to }, effects: EditorView.scrollIntoView(line.from, { y: 'start' }) });
      view.focus();
    }
  }
}

function showDiagnostics() {
  const doc = view.state.doc;
  const diagnostics = problems
    .filter((p) => p.file === current)
    .map((p) => {
      const line = doc.line(Math.min(Math.max(p.line, 1), doc.lines));
      return { from: line.from, to: line.to, severity: 'error', message: p.message };
    });
  view.dispatch(setDiagnostics(view.state, diagnostics));
}

function showProblems(list) {
  problems = list;
  problemsList.textContent = '';
  for (const p of list) {
    const item = document.createElement('li');
    const jump = document.createElement('button');
    jump.type = 'button';
    jump.className = 'link';
    jump.textContent = p.file + ':' + p.line;
    jump.setAttribute('aria-label', 'Go to ' + p.file + ' line ' + p.line);
    jump.addEventListener('click', () => {
      showFile(p.file);
      if (p.line > 0 && p.line <= view.state.doc.lines) {
        const line = view.state.doc.line(p.line);
        view.dispatch({ selection: { anchor: line.from, head: line.to }, effects: EditorView.scrollIntoView(line.from, { y: 'center' }) });
        view.focus();
      }
    });
    item.append(jump, ' ' + p.message);
    problemsList.append(item);
  }
  problemsSummary.textContent = list.length === 0 ? 'No problems: this edit passes the checks of a publish.' : list.length + ' problem(s): fix them to publish.';
  problemsSummary.className = list.length === 0 ? 'ok' : 'bad';
  if (publishButton) publishButton.disabled = list.length > 0;
  if (testButton) testButton.disabled = list.length > 0;
  showDiagnostics();
}

function body(extra) {
  const params = new URLSearchParams({ _csrf: data.csrf, variant: data.variant, arm: data.arm, files: JSON.stringify(files), license: licenseField.value.trim() });
  for (const key in extra || {}) params.set(key, extra[key]);
  return params;
}

let timer = null;
let sequence = 0;
async function refreshPreview() {
  const mine = ++sequence;
  previewArea.setAttribute('data-state', 'rendering');
  let result;
  try {
    const response = await fetch('/console/templates/preview', { method: 'POST', body: body(), credentials: 'same-origin' });
    result = await response.json();
  } catch (error) {
    result = { problems: [{ file: current, line: 0, message: 'the preview could not be rendered: ' + error }], subject: null, html: null, text: null };
  }
  if (mine !== sequence) return;
  document.getElementById('preview-subject').textContent = result.subject === null ? '(no subject: see the problems)' : result.subject;
  document.getElementById('preview-filled').textContent = result.filledWith || '';
  document.getElementById('preview-license-problem').textContent = result.licenseProblem || '';
  document.getElementById('preview-version').textContent = result.version || '';
  const htmlText = result.html || '<p style="font-family:sans-serif;color:#b42318">Nothing to show: see the problems.</p>';
  document.getElementById('preview-desktop').srcdoc = htmlText;
  document.getElementById('preview-mobile').srcdoc = htmlText;
  document.getElementById('preview-text').textContent = result.text || '';
  showProblems(result.problems || []);
  previewArea.setAttribute('data-state', 'ready');
  previewArea.setAttribute('data-rendered', String(mine));
}

function changed() {
  filesField.value = JSON.stringify(files);
  clearTimeout(timer);
  previewArea.setAttribute('data-state', 'typing');
  timer = setTimeout(refreshPreview, 350);
}

fileSelect.addEventListener('change', () => showFile(fileSelect.value));
for (const button of document.querySelectorAll('[data-block-file]')) {
  button.addEventListener('click', () => showFile(button.getAttribute('data-block-file'), button.getAttribute('data-block-heading')));
}
if (subjectField) {
  subjectField.value = readSubject();
  subjectField.addEventListener('input', () => {
    writeSubject(subjectField.value);
    changed();
  });
}
licenseField.addEventListener('change', changed);
document.getElementById('preview-refresh').addEventListener('click', refreshPreview);
if (testButton) {
  testButton.addEventListener('click', async () => {
    testStatus.textContent = 'Sending…';
    testStatus.className = 'muted';
    try {
      const response = await fetch('/console/templates/send-test', { method: 'POST', body: body(), credentials: 'same-origin' });
      const result = await response.json();
      testStatus.textContent = result.message;
      testStatus.className = response.ok ? 'ok' : 'bad';
    } catch (error) {
      testStatus.textContent = 'Not sent: ' + error;
      testStatus.className = 'bad';
    }
  });
}
form.addEventListener('submit', () => {
  filesField.value = JSON.stringify(files);
});
filesField.value = JSON.stringify(files);
showProblems(data.problems || []);
refreshPreview();
document.body.setAttribute('data-editor', 'ready');
