import { CallHandler, createParamDecorator, ExecutionContext, NestInterceptor } from '@nestjs/common';
import type { Request, Response } from 'express';
import { map, type Observable } from 'rxjs';
import { ApiError } from '../errors/api-error';

/**
 * Optimistic concurrency for admins: a configuration's ETag is its version, which every change raises,
 * and a PATCH or DELETE sent with If-Match applies only if nobody changed it since the caller read it.
 * Without If-Match a change applies to the configuration as it is, for clients that never read ETags.
 */
export function versionTag(version: number): string {
  return `"${version}"`;
}

export class VersionPrecondition {
  private constructor(
    private readonly header: string,
    /** The strong entity tags named, as sent; undefined for "*", any version. */
    private readonly tags?: Set<string>,
    /** The weak ones (W/ dropped): they never match, but a caller who sent the current one needs telling why. */
    private readonly weakTags = new Set<string>(),
  ) {}

  static parse(header: string | undefined): VersionPrecondition | undefined {
    if (header === undefined) return undefined;
    const text = header.trim();
    if (text === '*') return new VersionPrecondition(text);
    const tags = new Set<string>();
    const weakTags = new Set<string>();
    for (const tag of text.split(',').map((part) => part.trim())) {
      if (!/^(W\/)?"[\x21\x23-\x7e]*"$/.test(tag))
        throw ApiError.validation([
          {
            path: 'If-Match',
            message: 'must be * or entity tags such as "3", as the ETag header gives them',
          },
        ]);
      // RFC 9110 compares If-Match strongly, character by character: a weak tag never matches.
      if (tag.startsWith('W/')) weakTags.add(tag.slice(2));
      else tags.add(tag);
    }
    return new VersionPrecondition(text, tags, weakTags);
  }

  /** Refuses with 412 unless the configuration is still at a version the caller named. */
  require(current: number): void {
    if (!this.tags || this.tags.has(versionTag(current))) return;
    // Nothing changed: the tag was weakened on its way (a proxy compressing answers, such as nginx's gzip).
    const weakened = this.weakTags.has(versionTag(current));
    throw new ApiError(
      412,
      'precondition_failed',
      weakened
        ? `If-Match compares strong entity tags only (RFC 9110), so W/${versionTag(current)} never matches, though the configuration is still at version ${current}: send If-Match: ${versionTag(current)}, as the ETag header gives it (a proxy that compresses answers may have weakened it on its way to you).`
        : `The configuration is at version ${current} now, not one If-Match names (${this.header}): it changed since you read it. Read it again, reapply your change, and send it with If-Match: ${versionTag(current)}.`,
      undefined,
      { ETag: versionTag(current) },
    );
  }
}

/** The caller's If-Match, parsed (400 naming If-Match when malformed). */
export const IfMatch = createParamDecorator(
  (_: unknown, context: ExecutionContext): VersionPrecondition | undefined => {
    const header = context.switchToHttp().getRequest<Request>().headers['if-match'];
    return VersionPrecondition.parse(header);
  },
);

/**
 * Sets the ETag of a route answering with one configuration. It offers no conditional GET: the body
 * also shows the dispatcher's apply status, which changes without a new version, and a 304 to
 * If-None-Match would hide that change.
 */
export class VersionTagInterceptor implements NestInterceptor {
  intercept(context: ExecutionContext, next: CallHandler<{ version: number }>): Observable<unknown> {
    delete context.switchToHttp().getRequest<Request>().headers['if-none-match'];
    const response = context.switchToHttp().getResponse<Response>();
    return next.handle().pipe(
      map((config) => {
        response.setHeader('ETag', versionTag(config.version));
        return config;
      }),
    );
  }
}

/** The ETag header, for the OpenAPI document. */
export const VERSION_TAG_HEADER = {
  ETag: {
    description: 'The configuration’s version: send it back as If-Match to change only this version.',
    schema: { type: 'string', example: '"3"' },
  },
};
