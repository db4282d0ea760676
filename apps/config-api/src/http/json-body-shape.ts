import type { ErrorDetail } from '../errors/api-error';
import { shownFieldName } from './shown-field-name';

/** Far deeper than any MFA body (3 levels); a deeper one would only exhaust the validators' stack. */
export const MAX_BODY_DEPTH = 16;

/**
 * What no JSON body may hold, checked before validation: nesting deeper than MAX_BODY_DEPTH (the
 * validators recurse and a 3 KB body could overflow their stack), keys the validators skip silently
 * instead of refusing (`__proto__`, `constructor`, `prototype`, `toString` and the other names
 * Object.prototype owns), and strings that are not well-formed UTF-16 (a lone surrogate is stored as U+FFFD, so what is
 * read back would differ from what was accepted). Returns the first problem, with its dotted path.
 */
export function bodyShapeProblem(body: unknown): ErrorDetail | undefined {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    return { path: '(body)', message: 'must be a JSON object' };
  const pending: { value: unknown; path: string; depth: number }[] = [{ value: body, path: '', depth: 0 }];
  while (pending.length > 0) {
    const { value, path, depth } = pending.pop()!;
    const where = path || '(body)';
    if (typeof value === 'string') {
      if (!isWellFormed(value)) return { path: where, message: 'holds an unpaired UTF-16 surrogate' };
      continue;
    }
    if (value === null || typeof value !== 'object') continue;
    if (depth >= MAX_BODY_DEPTH)
      return { path: where, message: `nests deeper than ${MAX_BODY_DEPTH} levels` };
    for (const [key, child] of Object.entries(value)) {
      // Dotted like the validators' paths: settings.enabled_clients.0
      const childPath = path ? `${path}.${shownFieldName(key)}` : shownFieldName(key);
      const named = !Array.isArray(value);
      if (named && (key in Object.prototype || key === 'prototype' || !isWellFormed(key)))
        return { path: childPath, message: 'is not an allowed field' };
      pending.push({ value: child, path: childPath, depth: depth + 1 });
    }
  }
  return undefined;
}

// String.prototype.isWellFormed is Node 20+, but not in the ES2022 library this project compiles against.
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

function isWellFormed(text: string): boolean {
  return !LONE_SURROGATE.test(text);
}
