// Finds the environment variables that source files read, from their syntax trees (the TypeScript
// parser; nothing is type-checked). Used by test/configuration-doc.test.ts to keep
// docs/configuration.md complete and current.
//
// A read is any of:
//   - the env reader of shared/config.ts: `reader.int('NAME', …)`, `.string`, `.number`,
//     `.intList`, `.bool`, `.url` on a receiver named `…reader` (or `createEnvReader(…)` itself);
//   - an environment object: `process.env`, anything's `.env` (a process spec's environment, an
//     `io.env`), an identifier named `env`, one declared as `Env`, `NodeJS.ProcessEnv` or
//     `ProcessEnv`, or one initialised from an environment object; read as `env.NAME`,
//     `env?.NAME`, `env['NAME']`, `'NAME' in env`, or destructured (`const { NAME } = env`).
//     Any name of `process.env` counts; on other objects only upper-case names (`NAME`, not
//     `env.filter` of a Kubernetes env list). Assignments (`env.NAME = …`) and `delete env.NAME`
//     are writes, not reads.
// Where the name is not a literal (`env[name]`, `reader.string(variable, …)`), it is followed:
//   - a parameter of a named function (a helper such as `optionalFile(reader, 'NATS_TLS_CA_FILE')`):
//     the arguments its call sites pass in that position, followed again when they are parameters
//     in turn (same file, or every file when the helper is exported);
//   - the variable of a `for (const name of ['A', 'B'])` loop: each name of the list.
// Anything else is reported as unresolved, so that a new way of naming a variable cannot slip by.
import ts from 'typescript';

export type SourceText = Readonly<{ path: string; text: string }>;

export type EnvRead = Readonly<{ name: string; path: string; line: number }>;

/** `enclosing`: the names of the functions around it, innermost first. */
export type UnresolvedRead = Readonly<{ path: string; line: number; expression: string; enclosing: readonly string[] }>;

export type EnvReadScan = Readonly<{ reads: readonly EnvRead[]; unresolved: readonly UnresolvedRead[] }>;

const READER_METHODS = new Set(['string', 'int', 'number', 'intList', 'bool', 'url']);
const ENV_TYPES = new Set(['Env', 'NodeJS.ProcessEnv', 'ProcessEnv']);

type Parsed = { path: string; file: ts.SourceFile; envNames: Set<string> };

function unwrap(node: ts.Expression): ts.Expression {
  let current = node;
  while (
    ts.isParenthesizedExpression(current) ||
    ts.isNonNullExpression(current) ||
    ts.isAsExpression(current) ||
    ts.isSatisfiesExpression(current) ||
    ts.isTypeAssertionExpression(current)
  ) {
    current = current.expression;
  }
  return current;
}

/** `process.env` itself, where any property is a variable; elsewhere only upper-case names
 * (`env.PORT`) are, so that `env.filter(…)` on a Kubernetes env list or a result named `env` is not. */
function isProcessEnv(node: ts.Expression): boolean {
  const inner = unwrap(node);
  return ts.isPropertyAccessExpression(inner) && inner.name.text === 'env' && ts.isIdentifier(inner.expression) && inner.expression.text === 'process';
}

const VARIABLE_NAME = /^[A-Z_][A-Z0-9_]*$/;

function isEnvObject(node: ts.Expression, envNames: ReadonlySet<string>): boolean {
  const inner = unwrap(node);
  if (ts.isPropertyAccessExpression(inner)) return inner.name.text === 'env';
  return ts.isIdentifier(inner) && envNames.has(inner.text);
}

/** `env` plus the identifiers of this file declared as an environment or initialised from one. */
function findEnvNames(file: ts.SourceFile): Set<string> {
  const names = new Set(['env']);
  let grew = true;
  // Repeat: `const a = process.env; const b = a;` makes b one too.
  while (grew) {
    grew = false;
    const visit = (node: ts.Node): void => {
      if ((ts.isParameter(node) || ts.isVariableDeclaration(node)) && ts.isIdentifier(node.name) && !names.has(node.name.text)) {
        const typed = node.type !== undefined && ENV_TYPES.has(node.type.getText(file));
        const initialised = node.initializer !== undefined && isEnvObject(node.initializer, names);
        if (typed || initialised) {
          names.add(node.name.text);
          grew = true;
        }
      }
      ts.forEachChild(node, visit);
    };
    visit(file);
  }
  return names;
}

function parse(source: SourceText): Parsed {
  const kind = /\.(c|m)?js$/.test(source.path) ? ts.ScriptKind.JS : ts.ScriptKind.TS;
  const file = ts.createSourceFile(source.path, source.text, ts.ScriptTarget.Latest, true, kind);
  return { path: source.path, file, envNames: findEnvNames(file) };
}

function lineOf(parsed: Parsed, node: ts.Node): number {
  return parsed.file.getLineAndCharacterOfPosition(node.getStart(parsed.file)).line + 1;
}

function isStringLiteral(node: ts.Node): node is ts.StringLiteral | ts.NoSubstitutionTemplateLiteral {
  return ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node);
}

/** A write: the target of a plain assignment, or the operand of `delete`. */
function isWritten(node: ts.Node): boolean {
  const parent = node.parent;
  if (ts.isDeleteExpression(parent)) return true;
  return ts.isBinaryExpression(parent) && parent.left === node && parent.operatorToken.kind === ts.SyntaxKind.EqualsToken;
}

type FunctionLike = ts.FunctionDeclaration | ts.FunctionExpression | ts.ArrowFunction | ts.MethodDeclaration;

/** The name a function is called by, and whether it is called as a method (`x.name(…)`). */
function nameOf(fn: FunctionLike): { name: string; method: boolean; exported: boolean } | undefined {
  const isExported = (node: ts.Node) =>
    ts.canHaveModifiers(node) && (ts.getModifiers(node) ?? []).some((m) => m.kind === ts.SyntaxKind.ExportKeyword);
  if (ts.isFunctionDeclaration(fn)) return fn.name ? { name: fn.name.text, method: false, exported: isExported(fn) } : undefined;
  if (ts.isMethodDeclaration(fn)) return ts.isIdentifier(fn.name) ? { name: fn.name.text, method: true, exported: true } : undefined;
  const parent = fn.parent;
  if (ts.isVariableDeclaration(parent) && ts.isIdentifier(parent.name)) {
    const statement = parent.parent.parent;
    return { name: parent.name.text, method: false, exported: isExported(statement) };
  }
  if (ts.isPropertyAssignment(parent) && ts.isIdentifier(parent.name)) return { name: parent.name.text, method: true, exported: true };
  return undefined;
}

/** The names of the named functions around `node`, innermost first (for messages and exemptions). */
export function enclosingFunctionNames(node: ts.Node): string[] {
  const names: string[] = [];
  for (let current: ts.Node | undefined = node.parent; current; current = current.parent) {
    if (ts.isFunctionDeclaration(current) || ts.isFunctionExpression(current) || ts.isArrowFunction(current) || ts.isMethodDeclaration(current)) {
      const named = nameOf(current);
      if (named) names.push(named.name);
    }
  }
  return names;
}

type Resolution = { kind: 'names'; reads: EnvRead[] } | { kind: 'unresolved' };

export function scanEnvReads(sources: readonly SourceText[], isExempt: (read: UnresolvedRead) => boolean = () => false): EnvReadScan {
  const parsed = sources.map(parse);
  const reads: EnvRead[] = [];
  const unresolved: UnresolvedRead[] = [];

  const callSitesOf = (owner: Parsed, fn: FunctionLike): { parsed: Parsed; call: ts.CallExpression }[] => {
    const named = nameOf(fn);
    if (!named) return [];
    const sites: { parsed: Parsed; call: ts.CallExpression }[] = [];
    for (const candidate of named.exported ? parsed : [owner]) {
      const visit = (node: ts.Node): void => {
        if (ts.isCallExpression(node)) {
          const callee = unwrap(node.expression);
          const matches = named.method
            ? ts.isPropertyAccessExpression(callee) && callee.name.text === named.name
            : ts.isIdentifier(callee) && callee.text === named.name;
          if (matches) sites.push({ parsed: candidate, call: node });
        }
        ts.forEachChild(node, visit);
      };
      visit(candidate.file);
    }
    return sites;
  };

  /** The variable names `expression` can hold at `at`, each with the place that names it. */
  const resolve = (owner: Parsed, expression: ts.Expression, seen: Set<ts.Node>): Resolution => {
    const inner = unwrap(expression);
    if (isStringLiteral(inner)) return { kind: 'names', reads: [{ name: inner.text, path: owner.path, line: lineOf(owner, inner) }] };
    if (!ts.isIdentifier(inner) || seen.has(inner)) return { kind: 'unresolved' };
    seen.add(inner);
    for (let scope: ts.Node | undefined = inner.parent; scope; scope = scope.parent) {
      // for (const name of ['A', 'B']) …
      if (ts.isForOfStatement(scope) && ts.isVariableDeclarationList(scope.initializer)) {
        const declared = scope.initializer.declarations.some((d) => ts.isIdentifier(d.name) && d.name.text === inner.text);
        if (declared) {
          const list = unwrap(scope.expression);
          if (!ts.isArrayLiteralExpression(list) || !list.elements.every(isStringLiteral)) return { kind: 'unresolved' };
          return {
            kind: 'names',
            reads: list.elements.map((element) => ({ name: (element as ts.StringLiteral).text, path: owner.path, line: lineOf(owner, element) })),
          };
        }
      }
      // a parameter of a named function: what its callers pass
      if (ts.isFunctionDeclaration(scope) || ts.isFunctionExpression(scope) || ts.isArrowFunction(scope) || ts.isMethodDeclaration(scope)) {
        const index = scope.parameters.findIndex((p) => ts.isIdentifier(p.name) && p.name.text === inner.text);
        if (index === -1) continue;
        if (!nameOf(scope)) return { kind: 'unresolved' };
        const found: EnvRead[] = [];
        for (const site of callSitesOf(owner, scope)) {
          const argument = site.call.arguments[index];
          if (argument === undefined) continue;
          const resolution = resolve(site.parsed, argument, seen);
          if (resolution.kind === 'unresolved') return resolution;
          found.push(...resolution.reads);
        }
        return { kind: 'names', reads: found };
      }
    }
    return { kind: 'unresolved' };
  };

  const addDynamic = (owner: Parsed, node: ts.Node, name: ts.Expression) => {
    const place: UnresolvedRead = {
      path: owner.path,
      line: lineOf(owner, node),
      expression: node.getText(owner.file).replace(/\s+/g, ' '),
      enclosing: enclosingFunctionNames(node),
    };
    if (isExempt(place)) return;
    const resolution = resolve(owner, name, new Set());
    if (resolution.kind === 'names') reads.push(...resolution.reads);
    else unresolved.push(place);
  };

  for (const owner of parsed) {
    const add = (name: string, node: ts.Node) => reads.push({ name, path: owner.path, line: lineOf(owner, node) });
    /** A property of an environment object, when it can name a variable there. */
    const addProperty = (object: ts.Expression, name: string, node: ts.Node) => {
      if (isProcessEnv(object) || VARIABLE_NAME.test(name)) add(name, node);
    };
    const visit = (node: ts.Node): void => {
      if (ts.isPropertyAccessExpression(node) && isEnvObject(node.expression, owner.envNames) && !isWritten(node)) {
        addProperty(node.expression, node.name.text, node);
      } else if (ts.isElementAccessExpression(node) && isEnvObject(node.expression, owner.envNames) && !isWritten(node)) {
        const argument = unwrap(node.argumentExpression);
        if (isStringLiteral(argument)) addProperty(node.expression, argument.text, node);
        else if (!ts.isNumericLiteral(argument)) addDynamic(owner, node, argument);
      } else if (
        ts.isBinaryExpression(node) &&
        node.operatorToken.kind === ts.SyntaxKind.InKeyword &&
        isEnvObject(node.right, owner.envNames)
      ) {
        const left = unwrap(node.left);
        if (isStringLiteral(left)) add(left.text, node);
        else addDynamic(owner, node, left);
      } else if (
        ts.isVariableDeclaration(node) &&
        ts.isObjectBindingPattern(node.name) &&
        node.initializer !== undefined &&
        isEnvObject(node.initializer, owner.envNames)
      ) {
        for (const element of node.name.elements) {
          if (element.dotDotDotToken) continue;
          const key = element.propertyName ?? element.name;
          if (ts.isIdentifier(key) || ts.isStringLiteral(key)) addProperty(node.initializer, key.text, element);
          else addDynamic(owner, element, key as ts.Expression);
        }
      } else if (ts.isCallExpression(node)) {
        const callee = unwrap(node.expression);
        if (ts.isPropertyAccessExpression(callee) && READER_METHODS.has(callee.name.text)) {
          const receiver = unwrap(callee.expression);
          const isReader =
            (ts.isIdentifier(receiver) && /reader$/i.test(receiver.text)) ||
            (ts.isCallExpression(receiver) && ts.isIdentifier(receiver.expression) && receiver.expression.text === 'createEnvReader');
          const first = node.arguments[0];
          if (isReader && first !== undefined) {
            const argument = unwrap(first);
            if (isStringLiteral(argument)) add(argument.text, argument);
            else addDynamic(owner, node, argument);
          }
        }
      }
      ts.forEachChild(node, visit);
    };
    visit(owner.file);
  }

  const unique = new Map(reads.map((read) => [`${read.name}\0${read.path}\0${read.line}`, read]));
  return { reads: [...unique.values()], unresolved };
}
