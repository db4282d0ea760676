import type { Agent } from 'node:https';
import type { Credential, GoogleOAuthAccessToken } from 'firebase-admin/app';
import { JWT } from 'google-auth-library';

const FCM_SCOPES = ['https://www.googleapis.com/auth/firebase.messaging'];

/**
 * firebase-admin's Credential over google-auth-library's JWT client, so the OAuth2 token exchange
 * goes through our agent (firebase-admin's own cert credential ignores it). The JWT client caches
 * the token and refreshes it before it expires.
 */
export class ServiceAccountCredential implements Credential {
  private readonly client: JWT;

  constructor(clientEmail: string, privateKey: string, agent: Agent) {
    this.client = new JWT({
      email: clientEmail,
      key: privateKey,
      scopes: FCM_SCOPES,
      transporterOptions: { agent },
    });
  }

  async getAccessToken(): Promise<GoogleOAuthAccessToken> {
    const { token } = await this.client.getAccessToken();
    if (!token) throw new Error('the OAuth2 token exchange returned no access token');
    const expiry = this.client.credentials.expiry_date ?? Date.now() + 3600_000;
    return { access_token: token, expires_in: Math.max(0, Math.floor((expiry - Date.now()) / 1000)) };
  }
}
