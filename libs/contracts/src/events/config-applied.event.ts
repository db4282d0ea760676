/** Published by a dispatcher after it applied (or failed to apply) a configuration version. */
export interface ConfigAppliedEvent {
  tenant: string;
  mfa_type: string;
  version: number;
  status: 'applied' | 'failed';
  error?: string;
  replica: string;
  at: string;
}
