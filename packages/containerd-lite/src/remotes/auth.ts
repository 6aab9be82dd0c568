/**
 * Registry authorization, as Docker and containerd do it: a request answered 401 carries a
 * `WWW-Authenticate` challenge; a Bearer challenge names a token endpoint (realm, service,
 * scope) that hands out a token, anonymously or for Basic credentials; a Basic challenge takes
 * the credentials themselves. The Authorization header found is used for every later request of
 * the operation, until a 401 says it no longer works.
 */
import { EngineError, ErrorKind } from '@ctl/proto/errors';
import type { Http, HttpResponse } from './http';

/** A token endpoint's answer is a small JSON object; more than this is not one. */
const MAX_TOKEN_RESPONSE = 1 << 20;

export interface Challenge {
  /** Lower-case: "bearer", "basic". */
  scheme: string;
  /** Parameter names lower-case; values unquoted. */
  params: Record<string, string>;
}

export interface Credentials {
  username: string;
  password: string;
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+/;

/**
 * The challenges of a `WWW-Authenticate` value (RFC 7235: `scheme k=v, k="v", scheme2 …`;
 * several headers arrive joined by ", "). Whatever does not parse is skipped, never thrown.
 */
export function parseChallenges(header: string): Challenge[] {
  const out: Challenge[] = [];
  let current: Challenge | undefined;
  let i = 0;
  const skipSpace = (): void => {
    while (i < header.length && (header[i] === ' ' || header[i] === '\t')) i++;
  };
  const token = (): string => {
    const m = TOKEN.exec(header.slice(i));
    if (!m) return '';
    i += m[0].length;
    return m[0];
  };
  while (i < header.length) {
    skipSpace();
    if (header[i] === ',') {
      i++;
      continue;
    }
    const word = token();
    if (!word) {
      i++;
      continue;
    }
    skipSpace();
    if (header[i] === '=' && current) {
      i++;
      skipSpace();
      let value = '';
      if (header[i] === '"') {
        i++;
        while (i < header.length && header[i] !== '"') {
          if (header[i] === '\\' && i + 1 < header.length) i++;
          value += header[i];
          i++;
        }
        i++;
      } else {
        // Unquoted: a token by the RFC, but a bare URL realm is seen too; up to a comma or space.
        const m = /^[^\s,]*/.exec(header.slice(i))!;
        value = m[0];
        i += value.length;
      }
      current.params[word.toLowerCase()] = value;
    } else {
      current = { scheme: word.toLowerCase(), params: {} };
      out.push(current);
    }
  }
  return out;
}

const basic = (c: Credentials): string => `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}`;

export interface TokenResponse {
  token?: string;
  access_token?: string;
}

/** The Authorization header for one registry host and one set of scopes. */
export class Authorizer {
  private header: string | undefined;
  /** The challenge being answered, which requests meeting a 401 meanwhile wait for. */
  private answering: Promise<void> | undefined;

  /**
   * @param host the registry (for messages)
   * @param scopes what the operation needs, e.g. `repository:library/busybox:pull,push`
   */
  constructor(
    private readonly host: string,
    private readonly scopes: string[],
    private readonly credentials: Credentials | undefined,
    private readonly http: Http,
  ) {}

  /** The header to send, if any is known yet. */
  authorization(): string | undefined {
    return this.header;
  }

  /**
   * Answers a 401 to a request sent with the header sentWith: works out a new Authorization
   * header from the challenge. Requests in parallel that meet the same 401 share one answer (one
   * token request), and a request whose header another has replaced meanwhile just tries the new
   * one. Returns false when nothing new can be tried (the same header would be sent again), so
   * the caller fails instead of looping.
   */
  async challenge(response: HttpResponse, sentWith: string | undefined, signal?: AbortSignal): Promise<boolean> {
    if (this.header !== sentWith) return true;
    this.answering ??= this.answer(response, signal).finally(() => (this.answering = undefined));
    await this.answering;
    return this.header !== sentWith;
  }

  private async answer(response: HttpResponse, signal?: AbortSignal): Promise<void> {
    const challenges = parseChallenges(response.header('www-authenticate') ?? '');
    const bearer = challenges.find((c) => c.scheme === 'bearer');
    if (bearer) {
      this.header = `Bearer ${await this.token(bearer, signal)}`;
    } else if (challenges.some((c) => c.scheme === 'basic')) {
      if (!this.credentials)
        throw denied(`registry ${this.host} asks for a user name and password (give them with --user USER[:PASSWORD])`);
      this.header = basic(this.credentials);
    } else {
      throw denied(
        `registry ${this.host} answered 401 Unauthorized without a challenge this client knows (${response.header('www-authenticate') ?? 'no WWW-Authenticate header'})`,
      );
    }
  }

  private async token(challenge: Challenge, signal?: AbortSignal): Promise<string> {
    const realm = challenge.params.realm;
    if (!realm) throw denied(`registry ${this.host}: its Bearer challenge names no realm (token endpoint)`);
    let url: URL;
    try {
      url = new URL(realm);
    } catch {
      throw denied(`registry ${this.host}: token realm "${realm}" is not a URL`);
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw denied(`registry ${this.host}: token realm "${realm}" is not http(s)`);
    if (challenge.params.service) url.searchParams.set('service', challenge.params.service);
    // The challenge's own scope (what the request needed) plus the operation's.
    const scopes = new Set([...(challenge.params.scope ?? '').split(' ').filter(Boolean), ...this.scopes]);
    for (const scope of scopes) url.searchParams.append('scope', scope);
    const headers: Record<string, string> = {};
    if (this.credentials) headers.authorization = basic(this.credentials);
    const res = await this.http(url.toString(), { headers, signal });
    if (res.status === 401 || res.status === 403) {
      res.discard();
      throw denied(
        `registry ${this.host}: the token endpoint ${url.origin}${url.pathname} refused ${this.credentials ? `the credentials of ${this.credentials.username}` : 'anonymous access'} (${res.status})`,
      );
    }
    if (!res.ok) {
      res.discard();
      throw new EngineError(
        ErrorKind.Unavailable,
        `registry ${this.host}: the token endpoint ${url.origin}${url.pathname} answered ${res.status} ${res.statusText}`,
      );
    }
    let body: TokenResponse;
    try {
      body = JSON.parse(await res.text(MAX_TOKEN_RESPONSE)) as TokenResponse;
    } catch (err) {
      throw new EngineError(ErrorKind.Unknown, `registry ${this.host}: the token endpoint's answer is not JSON: ${(err as Error).message}`);
    }
    const token = body?.token || body?.access_token;
    if (typeof token !== 'string' || !token)
      throw new EngineError(ErrorKind.Unknown, `registry ${this.host}: the token endpoint's answer has no token`);
    return token;
  }
}

export const denied = (message: string): EngineError => new EngineError(ErrorKind.PermissionDenied, message);
