/** Who is calling: the token's subject, its tenant and the scopes it grants. */
export interface Principal {
  subject: string;
  tenant: string;
  scopes: ReadonlySet<string>;
}

/** The caller as logs name it: the token's `sub`, or null for a token without one. */
export function actorOf(principal: Principal): string | null {
  return principal.subject || null;
}
