// Finds references from a repository file to paths outside the repository: what made a fresh
// clone fail when the deploy tests read their schemas from a folder beside the checkout, and the
// README pointed at a design file there.
// Pure over the file's text and a view of the repository (its root, its tracked paths, the
// absolute locations that only exist on one machine); test/self-contained.test.ts feeds it every
// tracked file.
//
// What counts as a reference, and what it is resolved against:
// - import/export/require specifiers and Markdown link targets: the file's own folder, as Node
//   and Markdown viewers do;
// - a literal that goes up a folder, passed to resolve(), readFileSync() and the like: the
//   repository root, the working directory every npm script and vitest run from;
// - any other string literal in code (new URL(…, import.meta.url), join(__dirname, …), or plain
//   data such as a hostile id in a test): the file's folder. A literal kept in a variable and only
//   later handed to resolve() is read this way too, which can miss it;
// - any other path that goes up (a comment, a code span, YAML): the file's folder; and when it
//   names nothing the repository tracks there, the root too, since prose often means the working
//   directory (a guide's "shared schemas one folder up" meant beside the clone, not beside docs/).
// - absolute paths under a machine-specific location (the development machines' workspace, the
//   checkout's own path), given by the caller.
import { dirname, isAbsolute, relative, resolve, sep } from 'node:path';

export type RepositoryView = {
  /** Absolute path of the repository root. */
  readonly root: string;
  /** Whether the repository tracks this path (root-relative, '/'-separated) or a file under it. */
  tracks(path: string): boolean;
  /** Absolute prefixes that name one machine's layout, never the repository's. */
  readonly machinePrefixes: readonly string[];
};

export type OutsideReference = {
  /** Root-relative path of the file that holds the reference. */
  file: string;
  /** 1-based. */
  line: number;
  path: string;
  reason: string;
};

/** import x from '…', export … from '…', import '…', import('…'), require('…'). */
const MODULE_SPECIFIER = /\b(?:from|import|require)\s*\(?\s*(['"`])(\.\.?(?:\/[^'"`\s]*)?)\1/g;
/** [text](target) and ![alt](target), with an optional title. */
const MARKDOWN_LINK = /\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g;
/** Calls whose relative path argument is read from the working directory. */
const CWD_CALL =
  /(?:\b(?:resolve|readFileSync|readFile|existsSync|readdirSync|statSync|createReadStream|writeFileSync|mkdirSync|rmSync)\(\s*(?:process\.cwd\(\)\s*,\s*)?|\bjoin\(\s*process\.cwd\(\)\s*,\s*)(['"`])(\.\.(?:\/[^'"`\s]*)?)\1/g;
/** Source files, where a quoted path is a string literal rather than prose. */
const CODE_FILE = /\.(?:ts|js|mjs|cjs)$/;
/** A path that starts by going up one folder or more. Not inside a longer path or URL. */
const UP_PATH = /(?<![\w./@-])(?:\.\.\/)+[\w@+./-]*/g;
/** A URL scheme (https:, mailto:) or an in-page anchor: not a file reference. */
const NOT_A_FILE = /^(?:[a-z][a-z0-9+.-]*:|#)/i;
/** Extensions an import specifier may leave out. */
const IMPLIED_EXTENSIONS = ['', '.ts', '.js', '.mjs', '.cjs', '.json', '/index.ts', '/index.js'];

type Span = { start: number; end: number };
type Found = { path: string; at: number; base: 'file' | 'root' | 'file-or-root' };

function toRepoPath(view: RepositoryView, absolute: string): string | undefined {
  const rel = relative(view.root, absolute);
  if (rel === '') return '';
  if (rel.startsWith('..') || isAbsolute(rel)) return undefined;
  return rel.split(sep).join('/');
}

/** A path at the end of a sentence loses the full stop; a path ending in '..' keeps its dots. */
function trimProse(path: string): string {
  let trimmed = path;
  while (/[.,;:]$/.test(trimmed) && !/(^|\/)\.\.$/.test(trimmed)) trimmed = trimmed.slice(0, -1);
  return trimmed;
}

function stripAnchor(target: string): string {
  return target.replace(/[?#].*$/, '');
}

function collect(text: string, file: string): Found[] {
  const isMarkdown = file.endsWith('.md');
  const isCode = CODE_FILE.test(file);
  const found: Found[] = [];
  const taken: Span[] = [];
  const take = (match: RegExpMatchArray, path: string, base: Found['base']) => {
    const at = (match.index ?? 0) + match[0].lastIndexOf(path);
    found.push({ path, at, base });
    taken.push({ start: at, end: at + path.length });
  };
  for (const match of text.matchAll(MODULE_SPECIFIER)) take(match, match[2]!, 'file');
  for (const match of text.matchAll(CWD_CALL)) take(match, match[2]!, 'root');
  if (isMarkdown) {
    for (const match of text.matchAll(MARKDOWN_LINK)) {
      const target = match[1]!;
      if (NOT_A_FILE.test(target) || target.startsWith('/')) continue;
      take(match, target, 'file');
    }
  }
  for (const match of text.matchAll(UP_PATH)) {
    const at = match.index ?? 0;
    if (taken.some((span) => at >= span.start && at < span.end)) continue;
    const isLiteral = isCode && /['"`]/.test(text[at - 1] ?? '');
    found.push({ path: trimProse(match[0]), at, base: isLiteral ? 'file' : 'file-or-root' });
  }
  return found;
}

function lineOf(text: string, index: number): number {
  let line = 1;
  for (let i = 0; i < index; i += 1) if (text.charCodeAt(i) === 10) line += 1;
  return line;
}

function outsideReason(view: RepositoryView, fileDir: string, found: Found): string | undefined {
  const target = stripAnchor(found.path);
  const fromFile = resolve(fileDir, target);
  const fromRoot = resolve(view.root, target);
  const outside = (absolute: string) => toRepoPath(view, absolute) === undefined;
  if (found.base === 'root') {
    return outside(fromRoot) ? `resolves to ${fromRoot} from the repository root, outside the repository` : undefined;
  }
  if (outside(fromFile)) return `resolves to ${fromFile}, outside the repository`;
  if (found.base === 'file') return undefined;
  const inRepo = toRepoPath(view, fromFile)!;
  const named = IMPLIED_EXTENSIONS.some((extension) => view.tracks(`${inRepo}${extension}`.replace(/^\//, '')));
  if (!named && outside(fromRoot)) {
    return `names nothing the repository has at ${inRepo || '.'}, and resolves to ${fromRoot} from the repository root, outside the repository`;
  }
  return undefined;
}

function machinePathPattern(prefixes: readonly string[]): RegExp | undefined {
  if (prefixes.length === 0) return undefined;
  const escaped = prefixes.map((prefix) => prefix.replace(/\/+$/, '').replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  // Not inside a longer path or URL, and whole folder names: a prefix does not match a longer name.
  return new RegExp(`(?<![\\w.:/@-])(?:${escaped.join('|')})(?![\\w.@+-])[\\w@+.\\-/]*`, 'g');
}

/** Every reference in `text` (the content of `file`, root-relative) to a path outside the repository. */
export function findOutsideReferences(view: RepositoryView, file: string, text: string): OutsideReference[] {
  const fileDir = dirname(resolve(view.root, file));
  const references: OutsideReference[] = [];
  for (const found of collect(text, file)) {
    const reason = outsideReason(view, fileDir, found);
    if (reason) references.push({ file, line: lineOf(text, found.at), path: found.path, reason });
  }
  const machinePath = machinePathPattern(view.machinePrefixes);
  for (const match of machinePath ? text.matchAll(machinePath) : []) {
    const path = trimProse(match[0]);
    references.push({ file, line: lineOf(text, match.index ?? 0), path, reason: 'is an absolute path on one machine' });
  }
  return references.sort((a, b) => a.line - b.line);
}

/** A tracked-path lookup over `git ls-files` output: files and every folder above them. */
export function createTrackedLookup(files: readonly string[]): (path: string) => boolean {
  const known = new Set<string>(['']);
  for (const file of files) {
    const parts = file.split('/');
    for (let i = 1; i <= parts.length; i += 1) known.add(parts.slice(0, i).join('/'));
  }
  return (path) => known.has(path.replace(/\/+$/, ''));
}

export function formatReference(reference: OutsideReference): string {
  return `${reference.file}:${reference.line}: ${reference.path} ${reference.reason}`;
}
