/** Who is calling: the token's subject, its tenant and the scopes it grants. */
export interface Principal {
  subject: string;
  tenant: string;
  scopes: ReadonlySet<string>;
}

export const DEFAULT_TENANT = 'default';
/** Tenant ids become part of Kafka keys (`tenant/type`) and associated data, so keep them plain. */
export const TENANT_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
