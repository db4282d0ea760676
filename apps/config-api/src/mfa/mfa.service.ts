import { isDeepStrictEqual } from 'node:util';
import { Injectable } from '@nestjs/common';
import {
  checkConfigurationRules,
  ConcurrentModificationError,
  ConfigAlreadyExistsError,
  MfaConfigRecord,
  MfaConfigRepository,
  MfaConfigSealer,
  MfaConfiguration,
  MfaType,
  normalizePem,
  secretAt,
  withoutUndefined,
} from '@lib/mfa-config';
import { ApiError } from '../errors/api-error';
import { mayHaveWritten } from '../errors/store-errors';
import { OutboxRelay } from '../outbox/outbox-relay';
import { AuditTrail, ChangeAuthor } from './audit-trail';
import type { CreateMfaDto } from './dto/create-mfa.dto';
import type { UpdateMfaDto } from './dto/update-mfa.dto';
import type { MfaConfigListResponse, MfaConfigResponse } from './dto/mfa-config.response';
import { presentMfaConfig, SECRET_MASK } from './mfa-config.presenter';
import type { VersionPrecondition } from './version-precondition';

/** Creates, reads, changes and deletes a tenant's MFA configuration; every change leaves an event for the relay. */
@Injectable()
export class MfaService {
  constructor(
    private readonly repository: MfaConfigRepository,
    private readonly sealer: MfaConfigSealer,
    private readonly relay: OutboxRelay,
    private readonly audit: AuditTrail,
  ) {}

  async create(author: ChangeAuthor, dto: CreateMfaDto): Promise<MfaConfigResponse> {
    const { tenant } = author.principal;
    refusePlaceholders(dto, []);
    const config: MfaConfiguration = {
      enabled: dto.enabled,
      provider: dto.provider,
      type: dto.type,
      is_custom: dto.is_custom,
      settings: {
        enabled_clients: dto.settings.enabled_clients,
        strategy: dto.settings.strategy ?? 'code',
        apns: dto.settings.apns && { ...dto.settings.apns, production: dto.settings.apns.production ?? true },
        fcm: dto.settings.fcm,
      },
    };
    const state = this.sealer.seal(tenant, this.checked(config));
    try {
      const created = await this.auditedIfUnconfirmed(author, 'create', config.type, () =>
        this.repository.create(tenant, config.type, state),
      );
      this.audit.created(author, created);
      return presentMfaConfig(this.written(created));
    } catch (error) {
      if (error instanceof ConfigAlreadyExistsError)
        throw new ApiError(
          409,
          'conflict',
          `A ${config.type} configuration already exists for this tenant; change it with PATCH /mfa/${config.type}.`,
        );
      throw error;
    }
  }

  async list(tenant: string, limit: number, offset: number): Promise<MfaConfigListResponse> {
    const { total, results } = await this.repository.listLive(tenant, limit, offset);
    return { total, results: results.map(presentMfaConfig) };
  }

  async get(tenant: string, type: MfaType): Promise<MfaConfigResponse> {
    return presentMfaConfig(await this.existing(tenant, type));
  }

  async update(
    author: ChangeAuthor,
    type: MfaType,
    patch: UpdateMfaDto,
    precondition?: VersionPrecondition,
  ): Promise<MfaConfigResponse> {
    const { tenant } = author.principal;
    if (patch.type !== undefined && patch.type !== type)
      throw ApiError.validation([{ path: 'type', message: `must be "${type}", the type in the path` }]);
    // null means "remove" for apns and fcm only; anywhere else it would store a broken configuration.
    refusePlaceholders(patch, ['settings.apns', 'settings.fcm']);
    let before: MfaConfigRecord | undefined;
    const updated = await this.onLatest(type, () =>
      this.auditedIfUnconfirmed(
        author,
        'update',
        type,
        () =>
          this.repository.updateLatest(tenant, type, (current) => {
            precondition?.require(current.version);
            before = current;
            const { config, unreadable } = this.sealer.openReplaceable(current);
            const merged = this.merge(config, patch);
            // A secret whose encryption key was removed too early: the PATCH that replaces it is the way out.
            const lost = unreadable.filter((field) => secretAt(merged, field) === '');
            if (lost.length > 0)
              throw ApiError.validation(
                lost.map((path) => ({
                  path,
                  message:
                    'the stored value can no longer be decrypted (its key is not in MFA_ENCRYPTION_KEYS any more): send a new one in this PATCH, or remove the section with null',
                })),
              );
            // A PATCH that changes nothing writes nothing: no new version, no event, no rebuilt clients.
            if (sameConfiguration(merged, config)) return undefined;
            return this.sealer.seal(tenant, this.checked(merged));
          }),
        () => before,
      ),
    );
    if (updated.version === before!.version) return presentMfaConfig(updated);
    this.audit.updated(author, before!, updated);
    return presentMfaConfig(this.written(updated));
  }

  async delete(author: ChangeAuthor, type: MfaType, precondition?: VersionPrecondition): Promise<void> {
    let removed: MfaConfigRecord | undefined;
    const deleted = await this.onLatest(type, () =>
      this.auditedIfUnconfirmed(
        author,
        'delete',
        type,
        () =>
          this.repository.deleteLatest(author.principal.tenant, type, (current) => {
            precondition?.require(current.version);
            removed = current;
          }),
        () => removed,
      ),
    );
    this.audit.deleted(author, deleted, removed!);
    this.written(deleted);
  }

  /** PATCH semantics: given fields replace, omitted ones (secrets included) stay, null removes apns/fcm. */
  private merge(current: MfaConfiguration, patch: UpdateMfaDto): MfaConfiguration {
    const { settings: settingsPatch, ...top } = patch;
    const settings = { ...current.settings };
    if (settingsPatch) {
      const { apns, fcm, ...plain } = settingsPatch;
      Object.assign(settings, withoutUndefined(plain));
      if (apns === null) delete settings.apns;
      else if (apns)
        settings.apns = {
          production: true,
          ...settings.apns,
          ...withoutUndefined(apns),
        } as typeof settings.apns;
      if (fcm === null) delete settings.fcm;
      else if (fcm) settings.fcm = { ...settings.fcm, ...withoutUndefined(fcm) } as typeof settings.fcm;
    }
    return { ...current, ...withoutUndefined(top), settings };
  }

  private checked(config: MfaConfiguration): MfaConfiguration {
    const problems = checkConfigurationRules(config);
    if (problems.length > 0) throw ApiError.validation(problems);
    return config;
  }

  private async existing(tenant: string, type: MfaType): Promise<MfaConfigRecord> {
    return (await this.repository.findLive(tenant, type)) ?? notFound(type);
  }

  /**
   * Applies a change to the stored configuration as it is now (the repository reads it in the
   * document's write queue). A write that lost the race to another process's is applied again: a PATCH
   * merges into whatever is current, and one sent with If-Match is checked again (412 then).
   */
  private async onLatest(
    type: MfaType,
    write: () => Promise<MfaConfigRecord | null>,
  ): Promise<MfaConfigRecord> {
    for (let attempt = 1; ; attempt++) {
      try {
        return (await write()) ?? notFound(type);
      } catch (error) {
        if (!(error instanceof ConcurrentModificationError)) throw error;
        // Contention, not a conflict the caller must resolve: generic clients retry a 503 by themselves.
        if (attempt >= WRITE_ATTEMPTS)
          throw new ApiError(
            503,
            'service_unavailable',
            `The configuration was changed by other writers during each of ${WRITE_ATTEMPTS} attempts to apply this change; this request changed nothing. Retry in a second.`,
            undefined,
            { 'Retry-After': '1' },
          );
      }
    }
  }

  /** Runs a write; one the store may have applied without confirming it is audited as unconfirmed. */
  private async auditedIfUnconfirmed<T>(
    author: ChangeAuthor,
    change: 'create' | 'update' | 'delete',
    type: MfaType,
    write: () => Promise<T>,
    basedOn: () => MfaConfigRecord | undefined = () => undefined,
  ): Promise<T> {
    try {
      return await write();
    } catch (error) {
      if (mayHaveWritten(error))
        this.audit.unconfirmed(
          author,
          change,
          { tenant: author.principal.tenant, type, basedOn: basedOn()?.version },
          error as Error,
        );
      throw error;
    }
  }

  /** Wakes the relay so the event is on Kafka well under a second after the write. */
  private written(record: MfaConfigRecord): MfaConfigRecord {
    this.relay.wake(record);
    return record;
  }
}

/** Attempts at one change, each lost to another process's write, before it is answered with 503. */
const WRITE_ATTEMPTS = 5;

function notFound(type: MfaType): never {
  throw new ApiError(
    404,
    'not_found',
    `No ${type} configuration exists for this tenant; create one with POST /mfa.`,
  );
}

/**
 * Equal as stored: secrets as the sealer keeps them (a key sent \n-escaped again is the same key), and
 * as JSON (key order and fields left undefined do not count).
 */
function sameConfiguration(left: MfaConfiguration, right: MfaConfiguration): boolean {
  // A PATCH may add a section partially (the rules then name what is missing).
  const pem = (secret: string | undefined) => (typeof secret === 'string' ? normalizePem(secret) : secret);
  const asStored = ({ settings, ...config }: MfaConfiguration): unknown => {
    const { apns, fcm } = settings;
    return JSON.parse(
      JSON.stringify({
        ...config,
        settings: {
          ...settings,
          ...(apns && { apns: { ...apns, key: pem(apns.key) } }),
          ...(fcm && { fcm: { ...fcm, private_key: pem(fcm.private_key) } }),
        },
      }),
    );
  };
  return isDeepStrictEqual(asStored(left), asStored(right));
}

const SECRET_PATHS = ['settings.apns.key', 'settings.fcm.private_key'];

/**
 * Refuses null except where it means "remove" (`removable`), and the mask responses show in place of a
 * secret: a body copied from a GET would otherwise be told its key is not a PEM.
 */
function refusePlaceholders(body: object, removable: string[]): void {
  const problems: { path: string; message: string }[] = [];
  const visit = (value: object, prefix: string) => {
    for (const [key, field] of Object.entries(value)) {
      const path = prefix ? `${prefix}.${key}` : key;
      if (field === null && !removable.includes(path)) problems.push({ path, message: 'must not be null' });
      else if (field === SECRET_MASK && SECRET_PATHS.includes(path))
        problems.push({
          path,
          message:
            'is the mask responses show in place of the secret: send the secret itself (in a PATCH, leave the field out to keep the stored one)',
        });
      else if (field && typeof field === 'object' && !Array.isArray(field)) visit(field, path);
    }
  };
  visit(body, '');
  if (problems.length > 0) throw ApiError.validation(problems);
}
