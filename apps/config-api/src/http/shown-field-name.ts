import { redactSecrets } from '@lib/runtime';

/**
 * A field's name as an error shows it: a key pasted where a field name goes must not come back in the
 * answer (or in a proxy's log of it), so a long name is cut short; 40 characters hold any field name
 * of ours and less than a line of a PEM key.
 */
export function shownFieldName(property: string): string {
  const name = redactSecrets(property);
  return name.length <= 40 ? name : `${name.slice(0, 24)}…`;
}
