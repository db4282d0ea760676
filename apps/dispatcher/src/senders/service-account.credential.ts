import type { Agent } from 'node:https';
import type { Credential, GoogleOAuthAccessToken } from 'firebase-admin/app';
import { JWT } from 'google-auth-library';

const FCM_SCOPES = ['https://www.googleapis.com/auth/firebase.messaging'];
const TOKEN_EXCHANGE_TIMEOUT_MS = 10_000;
/**
 * The longest a token exchange takes: gaxios tries a 5xx, 408 or 429 three more times (after 0.1, 0.5
 * and 1.5 s), each try up to the timeout.
 */
export const TOKEN_EXCHANGE_LONGEST_MS = 4 * TOKEN_EXCHANGE_TIMEOUT_MS + 2100;

/**
 * Begins the message of a token exchange that failed without Google refusing the service account (no
 * answer, or a 5xx or 429 after google-auth-library's own retries). firebase-admin passes on only the
 * message, as `app/invalid-credential` whatever the cause: this is how the sender tells a network
 * failure, to retry, from a refused key.
 */
export const TOKEN_EXCHANGE_UNAVAILABLE = "Google's OAuth2 token endpoint did not answer the exchange";

/**
 * firebase-admin's Credential over google-auth-library's JWT client, so the OAuth2 token exchange
 * goes through our agent (firebase-admin's own cert credential ignores it). The JWT client caches
 * the token and refreshes it before it expires. It is the one cache: firebase-admin is told each
 * token is about to expire, so it asks again for every request (the JWT client answers from its
 * cache), and a token dropped here (`forgetToken`) is not used again from firebase-admin's.
 */
export class ServiceAccountCredential implements Credential {
  private client: JWT;
  private dropped = 0;

  constructor(
    private readonly clientEmail: string,
    private readonly privateKey: string,
    private readonly agent: Agent,
  ) {
    this.client = this.newClient();
  }

  private newClient(): JWT {
    return new JWT({
      email: this.clientEmail,
      key: this.privateKey,
      scopes: FCM_SCOPES,
      // gaxios sets no timeout: a token exchange stuck on a half-open connection would hold every send
      // of the account (they share it) for ever. gaxios does not retry a try that timed out.
      transporterOptions: { agent: this.agent, timeout: TOKEN_EXCHANGE_TIMEOUT_MS },
    });
  }

  async getAccessToken(): Promise<GoogleOAuthAccessToken> {
    let token: string | null | undefined;
    try {
      ({ token } = await this.client.getAccessToken());
    } catch (error) {
      if (refusedByGoogle(error)) throw error;
      throw new Error(`${TOKEN_EXCHANGE_UNAVAILABLE} (${(error as Error).message})`);
    }
    if (!token) throw new Error('the OAuth2 token exchange returned no access token');
    return { access_token: token, expires_in: 0 };
  }

  /** The next request exchanges a new token: FCM refused this one before it expired (revoked). */
  forgetToken(): void {
    // A new client: the JWT client's token source (gtoken) caches the token too.
    this.client = this.newClient();
    this.dropped += 1;
  }

  /** Counts the tokens dropped (`forgetToken`): a send that noted it knows whether its token still stands. */
  get generation(): number {
    return this.dropped;
  }
}

/**
 * Google answered with a 4xx other than 408 and 429 (`invalid_grant`: a deleted or unknown key, a bad
 * signature, a clock far off; `invalid_client`, `unauthorized_client`): the credentials, not the network.
 */
function refusedByGoogle(error: unknown): boolean {
  const status = (error as { response?: { status?: unknown } }).response?.status;
  return typeof status === 'number' && status >= 400 && status < 500 && status !== 408 && status !== 429;
}
