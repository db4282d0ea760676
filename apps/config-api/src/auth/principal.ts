/** Who is calling: the token's subject, its tenant and the scopes it grants. */
export interface Principal {
  subject: string;
  tenant: string;
  scopes: ReadonlySet<string>;
}
